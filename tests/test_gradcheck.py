"""The gradient checker itself: it must pass correct backward passes and catch wrong ones."""
import math

import numpy as np
import pytest

from minipad.gradcheck import TOLERANCE, check_layer, check_model, format_errors, numerical_gradient, relative_error
from minipad.model import GPT, GPTConfig
from minipad.nn import gelu_forward, gelu_forward_reference, linear_backward, linear_forward, softmax_forward


def test_relative_error_is_the_worst_difference_over_the_largest_magnitude():
    assert relative_error([1.0, -2.0], [1.0, -2.0]) == 0.0
    assert relative_error([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert relative_error([1.0, 4.0], [1.5, 4.0]) == pytest.approx(0.5 / 4.0)
    assert relative_error([0.0], [1e-3]) == pytest.approx(1.0)


def test_numerical_gradient_of_a_known_function_and_the_array_is_restored():
    x = np.array([0.3, -1.2, 2.0])
    original = x.copy()
    indices, gradient = numerical_gradient(lambda: float(np.sum(np.sin(x))), x)
    np.testing.assert_allclose(gradient, np.cos(original)[indices], rtol=1e-9)
    np.testing.assert_array_equal(x, original)
    indices, gradient = numerical_gradient(lambda: float(np.sum(x * x)), x, np.random.default_rng(0), max_entries=2)
    assert len(indices) == 2 and len(set(indices)) == 2


def test_a_correct_layer_passes():
    rng = np.random.default_rng(0)
    errors = check_layer(linear_forward, linear_backward, {"x": rng.standard_normal((2, 3, 4))},
                         {"weight": rng.standard_normal((4, 5)), "bias": rng.standard_normal(5)}, rng)
    assert set(errors) == {"x", "weight", "bias"}
    assert max(errors.values()) < 1e-8


def test_a_slightly_wrong_backward_is_caught():
    def bias_gradient_off_by_one_percent(dout, cache):
        dx, grads = linear_backward(dout, cache)
        grads["bias"] = grads["bias"] * 1.01
        return dx, grads

    rng = np.random.default_rng(0)
    errors = check_layer(linear_forward, bias_gradient_off_by_one_percent, {"x": rng.standard_normal((2, 3, 4))},
                         {"weight": rng.standard_normal((4, 5)), "bias": rng.standard_normal(5)}, rng)
    assert errors["bias"] == pytest.approx(0.01 / 1.01, rel=1e-4)
    assert errors["x"] < 1e-8 and errors["weight"] < 1e-8
    assert "FAIL" in format_errors(errors) and "bias" in format_errors(errors)


def test_a_gelu_backward_with_the_erf_formula_is_caught():
    """Forward in the tanh approximation, backward of the exact erf GELU: close, but not the same function."""
    def erf_gelu_backward(dout, cache):
        x, _ = cache
        cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dout * (cdf + x * pdf), {}

    rng = np.random.default_rng(0)
    errors = check_layer(gelu_forward_reference, erf_gelu_backward, {"x": rng.standard_normal((4, 6)) * 2}, {}, rng)
    assert errors["x"] > TOLERANCE


def test_the_random_upstream_gradient_catches_a_softmax_backward_that_returns_zeros():
    """With an upstream of ones, softmax's true input gradient is zero, so this wrong backward would pass."""
    rng = np.random.default_rng(0)
    errors = check_layer(softmax_forward, lambda dp, p: (np.zeros_like(p), {}), {"x": rng.standard_normal((3, 5))},
                         {}, rng)
    assert errors["x"] == pytest.approx(1.0)


def test_check_layer_complains_about_float32_and_missing_gradients():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="float64"):
        check_layer(gelu_forward, lambda d, c: (d, {}), {"x": np.ones(3, np.float32)}, {}, rng)
    with pytest.raises(ValueError, match="no gradient for 'bias'"):
        check_layer(linear_forward, lambda d, c: (linear_backward(d, c)[0], {"weight": np.zeros((2, 2))}),
                    {"x": np.ones((1, 2))}, {"weight": np.ones((2, 2)), "bias": np.ones(2)}, rng)


def test_check_model_reports_every_parameter_and_restores_them():
    config = GPTConfig(vocab_size=5, n_layer=1, n_head=2, n_embd=4, block_size=6, dtype="float64")
    model = GPT(config, np.random.default_rng(0))
    before = {name: p.copy() for name, p in model.params.items()}
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 5, (2, 6))
    errors = check_model(model, ids, ids, np.ones((2, 6)), rng, max_entries=5)
    assert set(errors) == set(model.params)
    assert max(errors.values()) <= TOLERANCE, format_errors(errors)
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, before[name])
    float32_model = GPT(GPTConfig(vocab_size=5, n_embd=4, n_head=2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="float64"):
        check_model(float32_model, ids, ids, np.ones((2, 6)), rng)
