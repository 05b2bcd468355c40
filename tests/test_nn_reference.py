"""The fast layers the model runs agree with their plain reference forms, and the reference forms pass the
gradient check on their own (float64, random upstream gradients, every input and parameter)."""
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minipad.gradcheck import TOLERANCE, check_layer, format_errors
from minipad.nn import (
    KeyValueCache, attention_backward, attention_backward_reference, attention_forward,
    attention_forward_reference, attention_mask, attention_probabilities, causal_mask, cross_entropy_backward,
    cross_entropy_backward_reference, cross_entropy_forward, cross_entropy_forward_reference, gelu_backward,
    gelu_backward_reference, gelu_forward, gelu_forward_reference, layernorm_backward,
    layernorm_backward_reference, layernorm_forward, layernorm_forward_reference, rope_backward,
    rope_backward_reference, rope_forward, rope_forward_reference, rope_tables,
)
from minipad.nn import speed

seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(params=[None, 7], ids=["whole", "chunked"])
def chunk_elements(request, monkeypatch):
    """Run the fast forms as they are, and with tiny chunks so that every array spans many of them."""
    if request.param is not None:
        monkeypatch.setattr(speed, "CHUNK_ELEMENTS", request.param)
    return request.param


def assert_same(fast, reference, what, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(fast, reference, rtol=rtol, atol=atol, err_msg=what)


def assert_same_grads(fast, reference):
    assert set(fast) == set(reference)
    for name in reference:
        assert_same(fast[name], reference[name], f"gradient of {name}")


def assert_passes(errors, layer):
    assert errors and max(errors.values()) <= TOLERANCE, f"{layer}:\n{format_errors(errors)}"


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])  # a constant patch
@given(seed=seeds, shape=st.sampled_from([(1, 1, 3), (2, 5, 4), (3, 7, 8), (13, 6)]), scale=st.floats(0.2, 5))
def test_layernorm_fast_equals_reference(chunk_elements, seed, shape, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale + rng.standard_normal()
    C = shape[-1]
    gain, bias = 1 + 0.5 * rng.standard_normal(C), rng.standard_normal(C)
    fast, fast_cache = layernorm_forward(x, gain, bias)
    reference, reference_cache = layernorm_forward_reference(x, gain, bias)
    assert_same(fast, reference, "layernorm forward")
    assert_same(fast_cache.mean, reference_cache.mean, "cached mean")
    assert_same(fast_cache.rstd, reference_cache.rstd, "cached rstd")
    dout = rng.standard_normal(shape)
    dx, grads = layernorm_backward(dout, fast_cache)
    dx_reference, grads_reference = layernorm_backward_reference(dout, reference_cache)
    assert_same(dx, dx_reference, "layernorm dx")
    assert_same_grads(grads, grads_reference)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seeds, shape=st.sampled_from([(1, 1, 4), (2, 5, 8), (3, 7, 12), (9, 16)]), scale=st.floats(0.1, 4))
def test_gelu_fast_equals_reference(chunk_elements, seed, shape, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale
    fast, fast_cache = gelu_forward(x)
    reference, reference_cache = gelu_forward_reference(x)
    assert_same(fast, reference, "gelu forward")
    dout = rng.standard_normal(shape)
    assert_same(gelu_backward(dout, fast_cache)[0], gelu_backward_reference(dout, reference_cache)[0], "gelu dx")


@settings(max_examples=15)
@given(seed=seeds, B=st.integers(1, 3), T=st.integers(1, 6), V=st.integers(2, 7), density=st.floats(0, 1),
       normalizer=st.none() | st.floats(0.5, 20.0))
def test_cross_entropy_fast_equals_reference(seed, B, T, V, density, normalizer):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, V)) * 3
    targets = rng.integers(0, V, (B, T))
    mask = rng.random((B, T)) < density
    targets[~mask] = -1  # never read
    loss, cache = cross_entropy_forward(logits, targets, mask, normalizer)
    loss_reference, cache_reference = cross_entropy_forward_reference(logits, targets, mask, normalizer)
    assert loss == pytest.approx(loss_reference, rel=1e-12, abs=1e-12)
    assert_same(cross_entropy_backward(0.7, cache)[0], cross_entropy_backward_reference(0.7, cache_reference)[0],
                "cross-entropy dlogits")


@settings(max_examples=15)
@given(seed=seeds, B=st.integers(1, 3), NH=st.integers(1, 3), T=st.integers(1, 6), half=st.integers(1, 4),
       per_row=st.booleans(), stacked=st.booleans())
def test_rope_fast_equals_reference(seed, B, NH, T, half, per_row, stacked):
    rng = np.random.default_rng(seed)
    positions = rng.integers(0, 60, (B, T)) if per_row else np.arange(T)
    cos, sin = rope_tables(positions, 2 * half, np.float64)
    x = rng.standard_normal(((2,) if stacked else ()) + (B, NH, T, 2 * half))  # q and k rotated together
    out, cache = rope_forward(x, cos, sin)
    out_reference, cache_reference = rope_forward_reference(x, cos, sin)
    assert_same(out, out_reference, "rope forward")
    dout = rng.standard_normal(x.shape)
    assert_same(rope_backward(dout, cache)[0], rope_backward_reference(dout, cache_reference)[0], "rope dx")
    target = np.zeros(x.shape[:-3] + (x.shape[-2], x.shape[-3], x.shape[-1]))  # heads and time swapped
    written, _ = rope_backward(dout, cache, out=target.swapaxes(-2, -3))  # dx written into a strided view
    assert_same(target.swapaxes(-2, -3), rope_backward_reference(dout, cache_reference)[0], "rope dx into out")
    assert written.base is target
    errors = check_layer(lambda x: rope_forward_reference(x, cos, sin), rope_backward_reference, {"x": x}, {}, rng)
    assert_passes(errors, "rope reference")


def random_visible(rng, B, T, kind):
    """(B,T,T) booleans, causal, every query seeing itself: the kinds of masks the model builds."""
    causal = np.tri(T, dtype=bool)[None].repeat(B, axis=0)
    if kind == "causal":
        return causal
    if kind == "random":
        return (causal & (rng.random((B, T, T)) < 0.6)) | np.eye(T, dtype=bool)
    if kind == "lines":  # a line window: own line and the one before
        lines = np.sort(rng.integers(0, max(1, T // 2), (B, T)), axis=1)
        return causal & (lines[:, None, :] >= lines[:, :, None] - 1)
    segments = np.sort(rng.integers(0, 3, (B, T)), axis=1)  # packed problems
    return causal & (segments[:, None, :] == segments[:, :, None])


rope_kinds = st.sampled_from([None, "shared", "per_row"])
mask_kinds = st.sampled_from(["causal", "random", "lines", "segments"])


def rope_for(kind, rng, B, T, HS):
    if kind == "shared":
        return rope_tables(np.arange(T), HS, np.float64)
    if kind == "per_row":
        return rope_tables(rng.integers(0, 50, (B, T)), HS, np.float64)
    return None


@settings(max_examples=30)
@given(seed=seeds, B=st.integers(1, 3), T=st.integers(1, 9), NH=st.integers(1, 3), HS=st.sampled_from([2, 4]),
       kind=mask_kinds, rope_kind=rope_kinds, query_block=st.sampled_from([1, 2, 3, 32, None]))
def test_attention_in_query_blocks_equals_the_reference(seed, B, T, NH, HS, kind, rope_kind, query_block):
    """Forward, attention weights and backward agree for every mask and every block size."""
    rng = np.random.default_rng(seed)
    qkv = rng.standard_normal((B, T, 3 * NH * HS)) * 2
    visible = random_visible(rng, B, T, kind)
    mask = attention_mask(visible, np.float64, query_block)
    rope = rope_for(rope_kind, rng, B, T, HS)
    out, cache = attention_forward(qkv, NH, rope, mask)
    out_reference, cache_reference = attention_forward_reference(qkv, NH, rope, mask.bias)
    assert_same(out, out_reference, "attention output")
    assert_same(attention_probabilities(cache), attention_probabilities(cache_reference), "attention weights")
    dout = rng.standard_normal(out.shape)
    assert_same(attention_backward(dout, cache)[0], attention_backward_reference(dout, cache_reference)[0],
                "attention dqkv")


@pytest.mark.parametrize("case", ["a key scoring far above the query's own", "a query hidden from itself"])
def test_attention_falls_back_to_the_row_maximum_where_shifting_by_the_own_score_fails(case):
    """The fast form shifts each row of scores by the query's score with its own key; where that would
    overflow (float32: exp(200)) or leave a row summing to 0, it must still give the reference's result."""
    rng = np.random.default_rng(0)
    B, T, NH, HS = 2, 6, 2, 4
    C = NH * HS
    qkv = rng.standard_normal((B, T, 3 * C))
    visible = np.tri(T, dtype=bool)[None].repeat(B, axis=0)
    direction = np.full(HS, 0.5)  # a unit vector
    if case == "a key scoring far above the query's own":
        qkv[0, 5, :HS] = 20 * direction        # q of token 5, head 0
        qkv[0, 0, C:C + HS] = 20 * direction   # k of token 0: q5 . k0 / sqrt(HS) = 200
        qkv[0, 5, C:C + HS] = -20 * direction  # k of token 5: its own score is -200
    else:
        visible[1, 3, 3] = False               # query 3 of row 1 sees keys 0..2 only
        qkv[1, 3, :HS] = 20 * direction
        qkv[1, 3, C:C + HS] = 20 * direction   # its own (hidden) score 200 is far above the others
    mask = attention_mask(visible, np.float32)
    out, cache = attention_forward(qkv.astype(np.float32), NH, None, mask)
    out_reference, cache_reference = attention_forward_reference(qkv, NH, None, mask.bias.astype(np.float64))
    assert_same(out, out_reference, "attention output", rtol=1e-4, atol=1e-5)
    dout = rng.standard_normal(out.shape)
    assert_same(attention_backward(dout.astype(np.float32), cache)[0],
                attention_backward_reference(dout, cache_reference)[0], "attention dqkv", rtol=1e-3, atol=1e-4)


def test_attention_of_an_empty_batch_is_empty():
    for B, T in [(0, 5), (2, 0)]:
        out, _ = attention_forward(np.zeros((B, T, 3 * 8), np.float32), 2)
        assert out.shape == (B, T, 8)


def test_gelu_slope_stays_exact_in_float32_for_large_inputs():
    """gelu'(x) tends to 1 for large x; computed as w + h (1 - w) in float32 it fell to 0 beyond x = 428."""
    x = np.concatenate([np.linspace(-20, 20, 401), np.geomspace(20, 1e4, 200)])
    dx, _ = gelu_backward(np.ones(len(x), np.float32), gelu_forward(x.astype(np.float32))[1])
    expected, _ = gelu_backward_reference(np.ones(len(x)), gelu_forward_reference(x)[1])  # float64
    np.testing.assert_allclose(dx, expected, rtol=0, atol=1e-5)


def test_rope_tables_have_the_shape_of_the_positions():
    positions = np.array([[0, 1, 2, 3], [5, 6, 0, 1]])  # (B,T), repeating positions across rows
    cos, sin = rope_tables(positions, 8, np.float64)
    assert cos.shape == sin.shape == (2, 4, 4)
    angles = positions[..., None] * 10000.0 ** (-np.arange(0, 8, 2) / 8)
    np.testing.assert_allclose(cos, np.cos(angles), rtol=1e-12)
    np.testing.assert_allclose(sin, np.sin(angles), rtol=1e-12)


def test_query_blocks_skip_the_keys_no_query_of_the_block_sees():
    T = 70
    mask = causal_mask(T, np.float32)
    assert [(b.query_start, b.query_end, b.key_start, b.key_end) for b in mask.blocks] == \
        [(0, 32, 0, 32), (32, 64, 0, 64), (64, 70, 0, 70)]
    lines = np.repeat(np.arange(7), 10)[None]  # lines of 10 tokens: a query sees at most 20 keys back
    window = np.tri(T, dtype=bool)[None] & (lines[:, None, :] >= lines[:, :, None] - 1)
    blocks = attention_mask(window, np.float32, query_block=10).blocks
    assert [(b.key_start, b.key_end) for b in blocks] == [(0, 10)] + [(10 * (i - 1), 10 * (i + 1)) for i in range(1, 7)]
    with pytest.raises(ValueError, match="at least one key"):
        attention_mask(np.zeros((1, 3, 3), bool), np.float32)


@settings(max_examples=15)
@given(seed=seeds, B=st.integers(1, 3), chunks=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       NH=st.integers(1, 2), rope_kind=rope_kinds)
def test_attention_with_a_key_value_cache_equals_attention_over_the_whole_sequence(seed, B, chunks, NH, rope_kind):
    """Feeding the columns a few at a time into a KeyValueCache gives the outputs of one causal pass."""
    HS, T = 4, sum(chunks)
    rng = np.random.default_rng(seed)
    qkv = rng.standard_normal((B, T, 3 * NH * HS))
    positions = rng.integers(0, 50, (B, T))
    tables = rope_tables(positions, HS, np.float64) if rope_kind else None
    whole, _ = attention_forward_reference(qkv, NH, tables)
    kv = KeyValueCache(np.zeros((B, NH, T, HS)), np.zeros((B, NH, T, HS)))
    first = 0
    for size in chunks:
        columns = slice(first, first + size)
        part_tables = None if tables is None else (tables[0][:, columns], tables[1][:, columns])
        out, _ = attention_forward(qkv[:, columns], NH, part_tables, kv=kv)
        assert_same(out, whole[:, columns], f"columns {first}..{first + size - 1}")
        first += size
    assert kv.length == T


@pytest.mark.parametrize("rope_kind", [None, "per_row"])
@pytest.mark.parametrize("kind", ["random", "lines", "segments"])
@settings(max_examples=8)
@given(seed=seeds, B=st.integers(1, 2), T=st.integers(2, 7), NH=st.integers(1, 2))
def test_fast_attention_with_a_mask_passes_the_gradient_check(kind, rope_kind, seed, B, T, NH):
    rng = np.random.default_rng(seed)
    mask = attention_mask(random_visible(rng, B, T, kind), np.float64, query_block=2)
    tables = rope_for(rope_kind, rng, B, T, 4)
    errors = check_layer(lambda qkv: attention_forward(qkv, NH, tables, mask), attention_backward,
                         {"qkv": rng.standard_normal((B, T, 3 * NH * 4))}, {}, rng)
    assert_passes(errors, f"attention with a {kind} mask")


# ---- the reference forms on their own ----

@settings(max_examples=10)
@given(seed=seeds, B=st.integers(1, 3), T=st.integers(1, 5), C=st.integers(3, 7))
def test_layernorm_reference_passes_the_gradient_check(seed, B, T, C):
    rng = np.random.default_rng(seed)
    params = {"gain": 1 + 0.5 * rng.standard_normal(C), "bias": rng.standard_normal(C)}
    errors = check_layer(layernorm_forward_reference, layernorm_backward_reference,
                         {"x": rng.standard_normal((B, T, C)) * 2}, params, rng)
    assert set(errors) == {"x", "gain", "bias"}
    assert_passes(errors, "layernorm reference")


@settings(max_examples=10)
@given(seed=seeds, shape=st.sampled_from([(3,), (2, 5), (2, 3, 4)]))
def test_gelu_reference_passes_the_gradient_check(seed, shape):
    rng = np.random.default_rng(seed)
    errors = check_layer(gelu_forward_reference, gelu_backward_reference, {"x": rng.standard_normal(shape) * 2}, {},
                         rng)
    assert_passes(errors, "gelu reference")


@settings(max_examples=10)
@given(seed=seeds, B=st.integers(1, 2), T=st.integers(1, 6), NH=st.integers(1, 2), kind=mask_kinds,
       rope_kind=rope_kinds)
def test_attention_reference_passes_the_gradient_check(seed, B, T, NH, kind, rope_kind):
    rng = np.random.default_rng(seed)
    bias = attention_mask(random_visible(rng, B, T, kind), np.float64).bias
    tables = rope_for(rope_kind, rng, B, T, 4)
    errors = check_layer(functools.partial(attention_forward_reference, n_head=NH, rope=tables, bias=bias),
                         attention_backward_reference, {"qkv": rng.standard_normal((B, T, 3 * NH * 4))}, {}, rng)
    assert_passes(errors, "attention reference")


@settings(max_examples=10)
@given(seed=seeds, B=st.integers(1, 2), T=st.integers(1, 5), V=st.integers(2, 6))
def test_cross_entropy_reference_passes_the_gradient_check(seed, B, T, V):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, V, (B, T))
    mask = rng.random((B, T)) < 0.6
    mask[0, 0] = True
    errors = check_layer(lambda logits: cross_entropy_forward_reference(logits, targets, mask),
                         cross_entropy_backward_reference, {"logits": rng.standard_normal((B, T, V))}, {}, rng)
    assert_passes(errors, "cross-entropy reference")


def test_the_fast_forms_keep_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 40, 8)).astype(np.float32)
    gain, bias = np.ones(8, np.float32), np.zeros(8, np.float32)
    out, cache = layernorm_forward(x, gain, bias)
    assert out.dtype == np.float32 and layernorm_backward(out, cache)[0].dtype == np.float32
    out, cache = gelu_forward(x)
    assert out.dtype == np.float32 and gelu_backward(out, cache)[0].dtype == np.float32
    qkv = rng.standard_normal((2, 40, 24)).astype(np.float32)
    out, cache = attention_forward(qkv, 2, rope_tables(np.arange(40), 4, np.float32))
    assert out.dtype == np.float32 and attention_backward(out, cache)[0].dtype == np.float32
