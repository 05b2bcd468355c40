"""Laws the layers must obey whatever their inputs: properties, not cases."""
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minipad.nn import (
    attention_forward, attention_probabilities, cross_entropy_forward, gelu_forward, layernorm_forward,
    rope_forward, rope_tables, softmax_forward,
)

seeds = st.integers(0, 2**32 - 1)
bounded = st.floats(-30, 30, allow_nan=False, allow_infinity=False)
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=bounded)


@given(x=matrices)
def test_softmax_rows_are_distributions(x):
    p, _ = softmax_forward(x)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)


@given(x=matrices, shift=st.floats(-100, 100))
def test_softmax_ignores_a_constant_shift(x, shift):
    np.testing.assert_allclose(softmax_forward(x + shift)[0], softmax_forward(x)[0], atol=1e-12)


@given(seed=seeds, rows=st.integers(1, 6), C=st.integers(2, 16), scale=st.floats(0.5, 100), offset=st.floats(-50, 50))
def test_layernorm_with_unit_gain_gives_zero_mean_unit_variance(seed, rows, C, scale, offset):
    x = np.random.default_rng(seed).standard_normal((rows, C)) * scale + offset
    x[:, 0] += scale  # no row of identical values
    out, _ = layernorm_forward(x, np.ones(C), np.zeros(C))
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-9)
    variance = x.var(axis=-1)
    # exactly var / (var + eps): the eps inside the square root
    np.testing.assert_allclose(out.var(axis=-1), variance / (variance + 1e-5), rtol=1e-9)


@given(seed=seeds, B=st.integers(1, 3), T=st.integers(1, 8), NH=st.integers(1, 3), rope=st.booleans())
def test_attention_weights_are_causal_distributions(seed, B, T, NH, rope):
    HS = 4
    rng = np.random.default_rng(seed)
    qkv = rng.standard_normal((B, T, 3 * NH * HS)) * 3
    tables = rope_tables(np.arange(T), HS, np.float64) if rope else None
    _, cache = attention_forward(qkv, NH, tables)
    att = attention_probabilities(cache)
    assert att.shape == (B, NH, T, T)
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, rtol=1e-12)
    above_diagonal = np.triu(np.ones((T, T), bool), k=1)  # key after query
    assert np.all(att[..., above_diagonal] == 0.0)
    # the first position can only attend to itself
    np.testing.assert_array_equal(att[..., 0, 0], 1.0)


@given(seed=seeds, T=st.integers(2, 8), changed=st.integers(0, 7))
def test_attention_output_before_t_ignores_inputs_from_t_on(seed, T, changed):
    changed %= T
    rng = np.random.default_rng(seed)
    qkv = rng.standard_normal((2, T, 3 * 8))
    other = qkv.copy()
    other[:, changed] = rng.standard_normal((2, 3 * 8))
    out, _ = attention_forward(qkv, 2)
    out_other, _ = attention_forward(other, 2)
    np.testing.assert_array_equal(out[:, :changed], out_other[:, :changed])
    assert not np.allclose(out[:, changed], out_other[:, changed])


@given(seed=seeds, T=st.integers(1, 8), shift=st.integers(-20, 20))
def test_rope_scores_depend_only_on_relative_position(seed, T, shift):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, 1, 1, T, 4))
    positions = np.arange(T) + 30

    def scores(offset):
        cos, sin = rope_tables(positions + offset, 4, np.float64)
        return rope_forward(q, cos, sin)[0] @ rope_forward(k, cos, sin)[0].swapaxes(-1, -2)

    np.testing.assert_allclose(scores(shift), scores(0), atol=1e-12)
    # and the rotation keeps lengths
    cos, sin = rope_tables(positions, 4, np.float64)
    np.testing.assert_allclose(np.linalg.norm(rope_forward(q, cos, sin)[0], axis=-1), np.linalg.norm(q, axis=-1))


@given(x=hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-10, 10)))
def test_gelu_is_the_tanh_approximation(x):
    expected = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in x]
    np.testing.assert_allclose(gelu_forward(x)[0], expected, rtol=1e-12, atol=1e-15)


@given(seed=seeds, B=st.integers(1, 3), T=st.integers(1, 6), V=st.integers(2, 6))
def test_cross_entropy_is_the_mean_over_counted_positions(seed, B, T, V):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, V)) * 3
    targets = rng.integers(0, V, (B, T))
    mask = rng.random((B, T)) < 0.5
    loss, _ = cross_entropy_forward(logits, targets, mask)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    per_token = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    expected = per_token[mask].mean() if mask.any() else 0.0
    assert math.isclose(loss, expected, rel_tol=1e-12, abs_tol=1e-12)
