"""Every layer's backward against central differences in float64, with a random upstream gradient.

Shapes and input scales are drawn by hypothesis; the arrays themselves come from a seeded generator so
that inputs stay in the smooth regime where central differences are accurate (LayerNorm of a row of
identical values, say, is not).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minipad.gradcheck import TOLERANCE, check_layer, format_errors
from minipad.nn import (
    BLOCK_PARAM_NAMES, attention_backward, attention_forward, block_backward, block_forward,
    cross_entropy_backward, cross_entropy_forward, embedding_backward, embedding_forward, gelu_backward,
    gelu_forward, head_backward, head_forward, layernorm_backward, layernorm_forward, linear_backward,
    linear_forward, mlp_backward, mlp_forward, rope_backward, rope_forward, rope_tables, softmax_backward,
    softmax_forward,
)
from minipad.nn import attention_mask

seeds = st.integers(0, 2**32 - 1)
batch_sizes = st.integers(1, 3)
lengths = st.integers(1, 6)
scales = st.floats(0.2, 3.0)


def assert_all_close(errors, layer):
    assert errors, f"{layer}: nothing was checked"
    worst = max(errors.values())
    assert worst <= TOLERANCE, f"{layer} gradient check failed:\n{format_errors(errors)}"


def normal(rng, shape, scale=1.0):
    return rng.standard_normal(shape) * scale


@given(seed=seeds, B=batch_sizes, T=lengths, n_in=st.integers(1, 5), n_out=st.integers(1, 5), scale=scales,
       with_bias=st.booleans())
def test_linear(seed, B, T, n_in, n_out, scale, with_bias):
    rng = np.random.default_rng(seed)
    params = {"weight": normal(rng, (n_in, n_out))}
    if with_bias:
        params["bias"] = normal(rng, n_out)
    errors = check_layer(linear_forward, linear_backward, {"x": normal(rng, (B, T, n_in), scale)}, params, rng)
    assert set(errors) == {"x", *params}
    assert_all_close(errors, "linear")


# C >= 3: with two channels every row normalises to about (-1, 1) whatever its values, a near-step function
# whose central differences are inaccurate (their error shrinks as h^2: it is the check, not the backward).
@given(seed=seeds, B=batch_sizes, T=lengths, C=st.integers(3, 8), scale=scales, offset=st.floats(-3, 3))
def test_layernorm(seed, B, T, C, scale, offset):
    rng = np.random.default_rng(seed)
    x = normal(rng, (B, T, C), scale) + offset
    params = {"gain": 1.0 + normal(rng, C, 0.5), "bias": normal(rng, C)}
    assert_all_close(check_layer(layernorm_forward, layernorm_backward, {"x": x}, params, rng), "layernorm")


@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                    elements=st.floats(-4, 4, allow_nan=False, allow_infinity=False)), seed=seeds)
def test_gelu(x, seed):
    assert_all_close(check_layer(gelu_forward, gelu_backward, {"x": x}, {}, np.random.default_rng(seed)), "gelu")


@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                    elements=st.floats(-5, 5, allow_nan=False, allow_infinity=False)), seed=seeds)
def test_softmax(x, seed):
    errors = check_layer(softmax_forward, softmax_backward, {"x": x}, {}, np.random.default_rng(seed))
    assert_all_close(errors, "softmax")


@given(seed=seeds, B=batch_sizes, T=lengths, C=st.integers(1, 4), scale=scales)
def test_mlp(seed, B, T, C, scale):
    rng = np.random.default_rng(seed)
    params = {"fc.weight": normal(rng, (C, 4 * C)), "fc.bias": normal(rng, 4 * C),
              "proj.weight": normal(rng, (4 * C, C)), "proj.bias": normal(rng, C)}
    errors = check_layer(lambda x, **p: mlp_forward(x, p), mlp_backward, {"x": normal(rng, (B, T, C), scale)},
                         params, rng)
    assert set(errors) == {"x", *params}
    assert_all_close(errors, "mlp")


@given(seed=seeds, B=batch_sizes, T=lengths, V=st.integers(1, 6), C=st.integers(1, 4))
def test_embedding(seed, B, T, V, C):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (B, T))
    errors = check_layer(lambda weight: embedding_forward(ids, weight), embedding_backward, {},
                         {"weight": normal(rng, (V, C))}, rng)
    assert_all_close(errors, "embedding")


@given(seed=seeds, B=batch_sizes, T=lengths, V=st.integers(1, 6), C=st.integers(1, 4))
def test_head(seed, B, T, V, C):
    rng = np.random.default_rng(seed)
    errors = check_layer(head_forward, head_backward, {"x": normal(rng, (B, T, C))},
                         {"weight": normal(rng, (V, C))}, rng)
    assert_all_close(errors, "head")


@given(seed=seeds, B=batch_sizes, NH=st.integers(1, 3), T=lengths, half=st.integers(1, 3),
       per_row=st.booleans())
def test_rope(seed, B, NH, T, half, per_row):
    rng = np.random.default_rng(seed)
    positions = rng.integers(0, 50, (B, 1, T)) if per_row else np.arange(T)
    cos, sin = rope_tables(positions, 2 * half, np.float64)
    errors = check_layer(lambda x: rope_forward(x, cos, sin), rope_backward,
                         {"x": normal(rng, (B, NH, T, 2 * half))}, {}, rng)
    assert_all_close(errors, "rope")


@pytest.mark.parametrize("rope", [None, "shared", "per_row"])
@given(seed=seeds, B=batch_sizes, T=lengths, NH=st.integers(1, 3), HS=st.sampled_from([2, 4]), scale=scales)
def test_attention(rope, seed, B, T, NH, HS, scale):
    rng = np.random.default_rng(seed)
    tables = None
    if rope == "shared":
        tables = rope_tables(np.arange(T), HS, np.float64)
    elif rope == "per_row":
        tables = rope_tables(rng.integers(0, 50, (B, T)), HS, np.float64)
    errors = check_layer(lambda qkv: attention_forward(qkv, NH, tables), attention_backward,
                         {"qkv": normal(rng, (B, T, 3 * NH * HS), scale)}, {}, rng)
    assert_all_close(errors, "attention")


@given(seed=seeds, B=batch_sizes, T=lengths, V=st.integers(1, 6), scale=scales,
       mask_density=st.floats(0.0, 1.0), normalizer=st.none() | st.floats(0.5, 20.0))
def test_cross_entropy(seed, B, T, V, scale, mask_density, normalizer):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, V, (B, T))
    mask = rng.random((B, T)) < mask_density
    mask[rng.integers(B), rng.integers(T)] = True  # at least one counted target, so there is a gradient to check
    targets[~mask] = -1  # never read: uncounted targets may hold anything
    errors = check_layer(lambda logits: cross_entropy_forward(logits, targets, mask, normalizer),
                         cross_entropy_backward, {"logits": normal(rng, (B, T, V), scale)}, {}, rng)
    assert_all_close(errors, "cross-entropy")


@pytest.mark.parametrize("rope", [False, True])
@settings(max_examples=10)  # each example checks ~1,000 entries; the model tests cover blocks too
@given(seed=seeds, B=batch_sizes, T=lengths, NH=st.integers(2, 3), HS=st.sampled_from([2, 4]))
def test_block(rope, seed, B, T, NH, HS):
    check_block(rope, False, seed, B, T, NH, HS)


@settings(max_examples=3)  # the same layers as test_block; what is new is the mask in blocks of queries
@given(seed=seeds, T=st.integers(3, 5))
def test_block_with_a_line_window_in_query_blocks(seed, T):
    check_block(True, True, seed, 1, T, 2, 4)


def check_block(rope, windowed, seed, B, T, NH, HS):
    rng = np.random.default_rng(seed)
    C = NH * HS  # at least 4: LayerNorm needs C >= 3 for an accurate check, see test_layernorm
    shapes = {"ln1.gain": C, "ln1.bias": C, "attn.qkv.weight": (C, 3 * C), "attn.qkv.bias": 3 * C,
              "attn.proj.weight": (C, C), "attn.proj.bias": C, "ln2.gain": C, "ln2.bias": C,
              "mlp.fc.weight": (C, 4 * C), "mlp.fc.bias": 4 * C, "mlp.proj.weight": (4 * C, C), "mlp.proj.bias": C}
    assert set(shapes) == set(BLOCK_PARAM_NAMES)
    params = {name: normal(rng, shape, 0.5) for name, shape in shapes.items()}
    params["ln1.gain"] += 1.0
    params["ln2.gain"] += 1.0
    tables = rope_tables(np.arange(T), HS, np.float64) if rope else None
    mask = None
    if windowed:  # a line window over lines of two tokens, in query blocks of two rows
        lines = np.arange(T) // 2
        visible = np.tri(T, dtype=bool) & (lines[None, :] >= lines[:, None] - 1)
        mask = attention_mask(visible, np.float64, query_block=2)
    errors = check_layer(lambda x, **p: block_forward(x, p, NH, tables, mask), block_backward,
                         {"x": normal(rng, (B, T, C))}, params, rng)
    assert set(errors) == {"x", *BLOCK_PARAM_NAMES}
    assert_all_close(errors, "block")
