"""AdamW, gradient clipping and the learning-rate schedule."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipad.optim import AdamW, clip_grad_norm, lr_at


def test_two_adamw_steps_match_hand_computed_numbers():
    # lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on "w" only.
    # Parameter w[0] = 1.0 with gradients 0.1 then 0.3:
    #   step 1: decay 1.0 * (1 - 0.1 * 0.01) = 0.999
    #           m = 0.1 * 0.1 = 0.01, v = 0.001 * 0.01 = 1e-5, m_hat = 0.01 / 0.1 = 0.1,
    #           v_hat = 1e-5 / 0.001 = 0.01, so w = 0.999 - 0.1 * 0.1 / (0.1 + 1e-8) = 0.89900001
    #   step 2: decay 0.89900001 * 0.999
    #           m = 0.9 * 0.01 + 0.1 * 0.3 = 0.039, v = 0.999 * 1e-5 + 0.001 * 0.09 = 9.999e-5
    #           m_hat = 0.039 / (1 - 0.9**2) = 0.2052631578947368
    #           v_hat = 9.999e-5 / (1 - 0.999**2) = 0.05002001000500250
    #           w = 0.8981010199... - 0.1 * 0.20526 / (sqrt(0.05002) + 1e-8) = 0.8063229021955893
    # w[1] = -2.0 with gradients -0.3 then 0.1, and the bias b = 0.5 (no decay) with 0.2 then -0.2,
    # worked the same way (30-digit decimal arithmetic).
    params = {"w": np.array([1.0, -2.0]), "b": np.array([0.5])}
    optimizer = AdamW({"w"}, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    optimizer.step(params, {"w": np.array([0.1, -0.3]), "b": np.array([0.2])}, lr=0.1)
    np.testing.assert_allclose(params["w"], [0.899000009999999, -1.898000003333333], rtol=1e-13)
    np.testing.assert_allclose(params["b"], [0.400000004999999750], rtol=1e-13)
    np.testing.assert_allclose(optimizer.m["w"], [0.01, -0.03], rtol=1e-13)
    np.testing.assert_allclose(optimizer.v["w"], [1e-5, 9e-5], rtol=1e-13)

    optimizer.step(params, {"w": np.array([0.3, 0.1]), "b": np.array([-0.2])}, lr=0.1)
    np.testing.assert_allclose(params["w"], [0.806322902195589257, -1.856080147924747186], rtol=1e-13)
    np.testing.assert_allclose(params["b"], [0.405263162631578711], rtol=1e-13)
    np.testing.assert_allclose(optimizer.m["w"], [0.039, -0.017], rtol=1e-13)
    np.testing.assert_allclose(optimizer.v["w"], [9.999e-5, 9.991e-5], rtol=1e-13)
    assert optimizer.step_count == 2


def reference_adamw(params, grad_sequence, lrs, decay_names, beta1, beta2, eps, weight_decay):
    """AdamW written straight from the formulas, one name at a time, in float64."""
    params = {name: p.astype(np.float64) for name, p in params.items()}
    m = {name: np.zeros_like(p) for name, p in params.items()}
    v = {name: np.zeros_like(p) for name, p in params.items()}
    for t, (grads, lr) in enumerate(zip(grad_sequence, lrs), start=1):
        for name in params:
            g = grads[name]
            if name in decay_names:
                params[name] = params[name] - lr * weight_decay * params[name]
            m[name] = beta1 * m[name] + (1 - beta1) * g
            v[name] = beta2 * v[name] + (1 - beta2) * g**2
            m_hat = m[name] / (1 - beta1**t)
            v_hat = v[name] / (1 - beta2**t)
            params[name] = params[name] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


@given(
    seed=st.integers(0, 2**32 - 1),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.5, 0.9999),
    eps=st.floats(1e-10, 1e-2),
    weight_decay=st.floats(0.0, 0.5),
)
def test_adamw_matches_the_formulas_over_several_steps(seed, beta1, beta2, eps, weight_decay):
    rng = np.random.default_rng(seed)
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5), "c": rng.normal(size=())}
    grad_sequence = [{name: rng.normal(size=p.shape) for name, p in params.items()} for _ in range(4)]
    lrs = [0.01, 0.03, 0.02, 0.005]
    expected = reference_adamw(params, grad_sequence, lrs, {"a", "c"}, beta1, beta2, eps, weight_decay)

    optimizer = AdamW({"a", "c"}, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    params = {name: p.copy() for name, p in params.items()}
    for grads, lr in zip(grad_sequence, lrs):
        optimizer.step(params, grads, lr)
    for name in params:
        np.testing.assert_allclose(params[name], expected[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_weight_decay_touches_only_the_decay_names():
    rng = np.random.default_rng(0)
    start = {"weight": rng.normal(size=(4, 4)), "bias": rng.normal(size=4), "gain": rng.normal(size=4)}
    zero_grads = {name: np.zeros_like(p) for name, p in start.items()}
    params = {name: p.copy() for name, p in start.items()}
    optimizer = AdamW({"weight"}, weight_decay=0.5)
    optimizer.step(params, zero_grads, lr=0.1)
    # With a zero gradient the Adam part is 0 / (0 + eps) = 0: only the decay can move a weight.
    np.testing.assert_array_equal(params["weight"], start["weight"] * (1 - 0.1 * 0.5))
    np.testing.assert_array_equal(params["bias"], start["bias"])
    np.testing.assert_array_equal(params["gain"], start["gain"])

    # And with real gradients, the excluded names follow exactly the no-decay trajectory.
    grads = {name: rng.normal(size=p.shape) for name, p in start.items()}
    with_decay = {name: p.copy() for name, p in start.items()}
    without_decay = {name: p.copy() for name, p in start.items()}
    decaying, plain = AdamW({"weight"}, weight_decay=0.5), AdamW(set(), weight_decay=0.0)
    for _ in range(3):
        decaying.step(with_decay, grads, lr=0.1)
        plain.step(without_decay, grads, lr=0.1)
    np.testing.assert_array_equal(with_decay["bias"], without_decay["bias"])
    np.testing.assert_array_equal(with_decay["gain"], without_decay["gain"])
    assert not np.array_equal(with_decay["weight"], without_decay["weight"])


def test_for_model_takes_the_model_decay_names():
    class TwoParameterModel:
        params = {"w": np.ones(2), "b": np.ones(2)}

        def decay_names(self):
            return {"w"}

    optimizer = AdamW.for_model(TwoParameterModel(), weight_decay=0.2)
    assert optimizer.decay_names == {"w"}
    assert optimizer.weight_decay == 0.2


def test_float32_parameters_and_state_stay_float32():
    rng = np.random.default_rng(1)
    params = {"w": rng.normal(size=(8, 8)).astype(np.float32), "b": np.zeros(8, dtype=np.float32)}
    optimizer = AdamW({"w"})
    for _ in range(3):
        grads = {name: rng.normal(size=p.shape).astype(np.float32) for name, p in params.items()}
        optimizer.step(params, grads, lr=np.float64(1e-3))
    for name in params:
        assert params[name].dtype == np.float32, name
        assert optimizer.m[name].dtype == np.float32, name
        assert optimizer.v[name].dtype == np.float32, name


def test_step_rejects_mismatched_grads():
    params = {"w": np.zeros(3, dtype=np.float32)}
    optimizer = AdamW({"w"})
    with pytest.raises(ValueError, match="float64"):
        optimizer.step(params, {"w": np.zeros(3)}, lr=0.1)  # float64 grad for a float32 weight
    with pytest.raises(ValueError, match="missing"):
        optimizer.step(params, {}, lr=0.1)
    with pytest.raises(ValueError, match="decay_names"):
        AdamW({"not_a_parameter"}).step(params, {"w": np.zeros(3, dtype=np.float32)}, lr=0.1)
    assert optimizer.step_count == 0


def test_state_round_trip_gives_identical_subsequent_steps():
    rng = np.random.default_rng(2)
    params = {"w": rng.normal(size=(5, 3)).astype(np.float32), "b": rng.normal(size=3).astype(np.float32)}
    grad_sequence = [
        {name: rng.normal(size=p.shape).astype(np.float32) for name, p in params.items()} for _ in range(6)
    ]
    optimizer = AdamW({"w"}, weight_decay=0.1)
    for grads in grad_sequence[:3]:
        optimizer.step(params, grads, lr=0.01)
    saved_state = optimizer.state_dict()
    saved_params = {name: p.copy() for name, p in params.items()}
    assert all(key.startswith(AdamW.STATE_PREFIX) for key in saved_state)
    assert saved_state["adamw.step"].shape == () and int(saved_state["adamw.step"]) == 3

    for grads in grad_sequence[3:]:
        optimizer.step(params, grads, lr=0.01)

    resumed = AdamW({"w"}, weight_decay=0.1)
    resumed.load_state_dict(saved_state)
    resumed_params = saved_params
    for grads in grad_sequence[3:]:
        resumed.step(resumed_params, grads, lr=0.01)
    for name in params:
        np.testing.assert_array_equal(resumed_params[name], params[name], err_msg=name)
    assert resumed.step_count == optimizer.step_count == 6
    # The exported state was a copy: the steps taken after exporting did not change it.
    assert int(saved_state["adamw.step"]) == 3
    assert not np.array_equal(saved_state["adamw.m.w"], optimizer.m["w"])


def test_load_state_dict_rejects_foreign_or_incomplete_state():
    optimizer = AdamW(set())
    with pytest.raises(ValueError, match="must start with"):
        optimizer.load_state_dict({"adamw.step": np.array(1), "wte": np.zeros(3)})
    with pytest.raises(ValueError, match="no 'adamw.step'"):
        optimizer.load_state_dict({"adamw.m.w": np.zeros(3), "adamw.v.w": np.zeros(3)})
    with pytest.raises(ValueError, match="different names"):
        optimizer.load_state_dict({"adamw.step": np.array(1), "adamw.m.w": np.zeros(3)})


@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-3, 1e3),
    max_norm=st.floats(1e-2, 1e2),
)
def test_clipping_law(seed, scale, max_norm):
    rng = np.random.default_rng(seed)
    grads = {"a": scale * rng.normal(size=(4, 5)), "b": scale * rng.normal(size=7)}
    before = {name: g.copy() for name, g in grads.items()}
    expected_norm = math.sqrt(sum(float(np.sum(g**2)) for g in before.values()))

    returned = clip_grad_norm(grads, max_norm)

    assert returned == pytest.approx(expected_norm, rel=1e-12)
    after_norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    if expected_norm > max_norm:
        assert after_norm == pytest.approx(max_norm, rel=1e-12)
        for name in grads:  # one common factor: the direction is kept
            np.testing.assert_allclose(grads[name], before[name] * (max_norm / expected_norm), rtol=1e-12)
    else:
        for name in grads:
            np.testing.assert_array_equal(grads[name], before[name])


def test_clipping_keeps_float32_and_leaves_non_finite_gradients_alone():
    grads = {"a": np.full(4, 10.0, dtype=np.float32)}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(20.0)
    assert grads["a"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(grads["a"]), 1.0, rtol=1e-6)

    grads = {"a": np.array([1.0, np.nan]), "b": np.array([5.0])}
    assert math.isnan(clip_grad_norm(grads, 1.0))
    np.testing.assert_array_equal(grads["b"], [5.0])


def test_schedule_endpoints():
    assert lr_at(0, 1.0, 10, 100, 0.1) == pytest.approx(1.0 / 11)
    assert lr_at(9, 1.0, 10, 100, 0.1) == pytest.approx(10.0 / 11)
    assert lr_at(10, 1.0, 10, 100, 0.1) == 1.0
    assert lr_at(55, 1.0, 10, 100, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway: cos(pi/2) = 0
    assert lr_at(100, 1.0, 10, 100, 0.1) == 0.1
    assert lr_at(10_000, 1.0, 10, 100, 0.1) == 0.1
    assert lr_at(0, 1.0, 0, 100, 0.1) == 1.0  # no warmup: start at the peak


@given(
    warmup_steps=st.integers(0, 50),
    decay_steps=st.integers(0, 200),
    max_lr=st.floats(1e-5, 1.0),
    min_fraction=st.floats(0.0, 1.0),
)
def test_schedule_rises_then_falls_within_bounds(warmup_steps, decay_steps, max_lr, min_fraction):
    total_steps = warmup_steps + decay_steps
    min_lr = max_lr * min_fraction
    lrs = [lr_at(step, max_lr, warmup_steps, total_steps, min_lr) for step in range(total_steps + 5)]
    assert all(0 < lr <= max_lr * (1 + 1e-12) for lr in lrs[:warmup_steps])  # warmup starts above 0
    assert all(min_lr * (1 - 1e-12) <= lr <= max_lr * (1 + 1e-12) for lr in lrs[warmup_steps:])
    warmup = lrs[: warmup_steps + 1] if decay_steps else lrs[:warmup_steps]
    assert all(a < b for a, b in zip(warmup, warmup[1:])), "the warmup must rise strictly"
    decay = lrs[warmup_steps:]
    assert all(a >= b for a, b in zip(decay, decay[1:])), "after the warmup the rate never rises"
    assert lrs[total_steps] == min_lr


def test_schedule_rejects_nonsense():
    with pytest.raises(ValueError):
        lr_at(-1, 1.0, 10, 100, 0.1)
    with pytest.raises(ValueError):
        lr_at(0, 1.0, 200, 100, 0.1)
    with pytest.raises(ValueError):
        lr_at(0, 0.1, 10, 100, 1.0)
