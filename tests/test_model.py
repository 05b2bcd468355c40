"""The whole model: configuration, parameters, gradients, laws and a run that learns one batch by heart."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipad.gradcheck import TOLERANCE, check_model, format_errors
from minipad.model import GPT, GPTConfig
from minipad.optim import AdamW

SCHEMES = [(position, tie) for position in ("learned", "none", "rope") for tie in (True, False)]
SCHEME_IDS = [f"{position}-{'tied' if tie else 'untied'}" for position, tie in SCHEMES]


def tiny_model(position="learned", tie_weights=True, dtype="float64", seed=0, **overrides):
    """A small model whose parameters are all perturbed away from their initial values (unit gains and zero
    biases would hide a backward that mixes them up)."""
    settings = dict(vocab_size=7, n_layer=2, n_head=2, n_embd=8, block_size=8, position=position,
                    tie_weights=tie_weights, dtype=dtype)
    settings.update(overrides)
    model = GPT(GPTConfig(**settings), np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for array in model.params.values():
        array += (rng.standard_normal(array.shape) * 0.3).astype(array.dtype)
    return model


def random_batch(rng, B, T, vocab_size, mask_density=0.6):
    ids = rng.integers(0, vocab_size, (B, T))
    targets = rng.integers(0, vocab_size, (B, T))
    mask = rng.random((B, T)) < mask_density
    mask[0, -1] = True  # at least one counted target
    return ids, targets, mask


# ---- configuration and parameters ----

@pytest.mark.parametrize("bad, message", [
    (dict(n_embd=10, n_head=4), "divisible"),
    (dict(n_embd=12, n_head=4, position="rope"), "even head size"),
    (dict(position="sinusoid"), "position"),
    (dict(dtype="float16"), "dtype"),
    (dict(n_layer=0), "n_layer"),
    (dict(vocab_size=-3), "vocab_size"),
    (dict(block_size=2.5), "block_size"),
    (dict(tie_weights="yes"), "tie_weights"),
])
def test_config_rejects_bad_values_with_a_clear_message(bad, message):
    settings = dict(vocab_size=10)
    settings.update(bad)
    with pytest.raises(ValueError, match=message):
        GPTConfig(**settings)


def test_config_defaults():
    config = GPTConfig(vocab_size=10)
    assert (config.n_layer, config.n_head, config.n_embd, config.block_size) == (2, 4, 64, 512)
    assert (config.position, config.tie_weights, config.dtype) == ("learned", True, "float32")


@pytest.mark.parametrize("position, tie", SCHEMES, ids=SCHEME_IDS)
def test_parameter_names_shapes_and_decay(position, tie):
    config = GPTConfig(vocab_size=11, n_layer=3, n_head=2, n_embd=8, block_size=16, position=position,
                       tie_weights=tie)
    model = GPT(config, np.random.default_rng(0))
    params = model.params
    assert params["wte.weight"].shape == (11, 8)
    assert ("wpe.weight" in params) == (position == "learned")
    assert ("head.weight" in params) == (not tie)
    assert params["h.2.attn.qkv.weight"].shape == (8, 24)
    assert params["h.2.mlp.proj.weight"].shape == (32, 8)
    assert params["ln_f.gain"].shape == (8,)
    assert all(a.dtype == np.float32 for a in params.values())
    expected_count = 11 * 8 + (16 * 8 if position == "learned" else 0) + (0 if tie else 11 * 8) + 2 * 8
    expected_count += 3 * (4 * 8 + 8 * 24 + 24 + 8 * 8 + 8 + 8 * 32 + 32 + 32 * 8 + 8)
    assert model.num_params() == expected_count
    decayed = model.decay_names()
    assert decayed == {n for n in params if n.endswith(".weight") and not n.startswith(("wte", "wpe"))}
    assert ("head.weight" in decayed) == (not tie)
    assert not any(n.endswith((".bias", ".gain")) for n in decayed)
    assert decayed <= set(params)


def test_gpt2_initialisation():
    model = GPT(GPTConfig(vocab_size=500, n_layer=4, n_embd=128, block_size=256), np.random.default_rng(0))
    params = model.params
    assert abs(params["wte.weight"].std() - 0.02) < 0.001
    assert abs(params["h.0.attn.qkv.weight"].std() - 0.02) < 0.001
    residual_std = 0.02 / math.sqrt(2 * 4)
    assert abs(params["h.3.attn.proj.weight"].std() - residual_std) < 0.0005
    assert abs(params["h.3.mlp.proj.weight"].std() - residual_std) < 0.0005
    assert np.all(params["h.1.ln2.gain"] == 1) and np.all(params["h.1.mlp.fc.bias"] == 0)


def test_the_model_wants_a_config_and_a_generator():
    with pytest.raises(TypeError, match="Generator"):
        GPT(GPTConfig(vocab_size=5), 0)
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT({"vocab_size": 5}, np.random.default_rng(0))


def test_same_seed_same_model_different_seed_different_model():
    config = GPTConfig(vocab_size=9, n_embd=16, n_head=2)
    first, second = GPT(config, np.random.default_rng(5)), GPT(config, np.random.default_rng(5))
    other = GPT(config, np.random.default_rng(6))
    assert all(np.array_equal(first.params[n], second.params[n]) for n in first.params)
    assert not np.array_equal(first.params["wte.weight"], other.params["wte.weight"])


# ---- gradients ----

@pytest.mark.parametrize("position, tie", SCHEMES, ids=SCHEME_IDS)
def test_gradients_match_central_differences(position, tie):
    model = tiny_model(position, tie)
    rng = np.random.default_rng(2)
    ids, targets, mask = random_batch(rng, B=2, T=6, vocab_size=7)
    errors = check_model(model, ids, targets, mask, rng, max_entries=24)
    assert set(errors) == set(model.params)
    assert max(errors.values()) <= TOLERANCE, format_errors(errors)


def test_two_calls_give_identical_fresh_gradients():
    model = tiny_model(dtype="float32")
    ids, targets, mask = random_batch(np.random.default_rng(0), B=3, T=8, vocab_size=7)
    loss, grads = model.loss_and_grads(ids, targets, mask)
    snapshot = {name: g.copy() for name, g in grads.items()}
    for g in grads.values():
        g += 1.0  # an optimizer scaling gradients in place must not change the next call's
    loss_again, grads_again = model.loss_and_grads(ids, targets, mask)
    assert loss_again == loss
    for name in model.params:
        np.testing.assert_array_equal(grads_again[name], snapshot[name], err_msg=name)
        assert not np.shares_memory(grads_again[name], grads[name])
        assert not np.shares_memory(grads_again[name], model.params[name])
    assert model.loss(ids, targets, mask) == loss


@given(seed=st.integers(0, 2**32 - 1), scheme=st.sampled_from(SCHEMES))
def test_uncounted_positions_change_neither_loss_nor_gradients(seed, scheme):
    model = tiny_model(*scheme)
    rng = np.random.default_rng(seed)
    ids, targets, mask = random_batch(rng, B=2, T=6, vocab_size=7)
    other_targets = np.where(mask, targets, rng.integers(-1, 7, targets.shape))  # -1 included: never read
    loss, grads = model.loss_and_grads(ids, targets, mask)
    other_loss, other_grads = model.loss_and_grads(ids, other_targets, mask.astype(np.float32))
    assert loss == other_loss
    for name in grads:
        np.testing.assert_array_equal(grads[name], other_grads[name], err_msg=name)


def test_a_batch_with_no_counted_target_gives_zero_loss_and_zero_gradients():
    model = tiny_model(dtype="float32")
    ids = np.random.default_rng(0).integers(0, 7, (2, 5))
    loss, grads = model.loss_and_grads(ids, ids, np.zeros((2, 5), bool))
    assert loss == 0.0
    assert all(np.all(g == 0) for g in grads.values())


def test_parts_with_the_whole_count_add_up_to_the_whole_batch():
    model = tiny_model()
    ids, targets, mask = random_batch(np.random.default_rng(3), B=4, T=7, vocab_size=7)
    loss, grads = model.loss_and_grads(ids, targets, mask)
    count = mask.sum()
    loss_a, grads_a = model.loss_and_grads(ids[:2], targets[:2], mask[:2], normalizer=count)
    loss_b, grads_b = model.loss_and_grads(ids[2:], targets[2:], mask[2:], normalizer=count)
    assert math.isclose(loss_a + loss_b, loss, rel_tol=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads_a[name] + grads_b[name], grads[name], rtol=1e-10, atol=1e-14)


# ---- laws of the forward ----

@given(seed=st.integers(0, 2**32 - 1), scheme=st.sampled_from(SCHEMES), t=st.integers(0, 7), T=st.integers(1, 8))
def test_changing_a_token_never_changes_earlier_logits(seed, scheme, t, T):
    t %= T
    model = tiny_model(*scheme, dtype="float32")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 7, (2, T))
    changed = ids.copy()
    changed[:, t] = (ids[:, t] + 1 + rng.integers(0, 6, 2)) % 7  # a different token in every row
    logits, changed_logits = model.forward(ids), model.forward(changed)
    np.testing.assert_array_equal(logits[:, :t], changed_logits[:, :t])
    assert not np.allclose(logits[:, t], changed_logits[:, t])


def test_forward_exposes_the_attention_weights_of_every_layer():
    model = tiny_model(n_layer=3)
    ids = np.random.default_rng(0).integers(0, 7, (2, 5))
    logits, cache = model.forward(ids, return_cache=True)
    assert logits.shape == (2, 5, 7)
    assert len(cache["attention"]) == 3
    for att in cache["attention"]:
        assert att.shape == (2, 2, 5, 5)
        np.testing.assert_allclose(att.sum(axis=-1), 1.0)
        assert np.all(np.triu(att[0, 0], k=1) == 0)
    np.testing.assert_array_equal(model.forward(ids), logits)


def test_sequences_of_any_length_up_to_block_size():
    model = tiny_model(dtype="float32")
    ids = np.random.default_rng(0).integers(0, 7, (2, 9))
    for T in (1, 3, 8):
        assert model.forward(ids[:, :T]).shape == (2, T, 7)
    with pytest.raises(ValueError, match="block_size"):
        model.forward(ids)
    with pytest.raises(ValueError, match="block_size"):
        model.loss_and_grads(ids, ids, np.ones((2, 9)))


def test_bad_inputs_raise_clear_errors():
    model = tiny_model(dtype="float32")
    ids = np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match=r"\[0, 7\)"):
        model.forward(ids + 7)
    with pytest.raises(ValueError, match="integers"):
        model.forward(ids.astype(float))
    with pytest.raises(ValueError, match="shape"):
        model.loss(ids, ids[:, :3], np.ones((2, 4)))
    with pytest.raises(ValueError, match="targets"):
        model.loss(ids, ids - 1, np.ones((2, 4)))


def _floating_arrays(tree):
    """Every floating-point array inside nested tuples, lists and dicts."""
    if isinstance(tree, np.ndarray):
        if np.issubdtype(tree.dtype, np.floating):
            yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _floating_arrays(value)
    elif isinstance(tree, (tuple, list)):
        for value in tree:
            yield from _floating_arrays(value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("position, tie", SCHEMES, ids=SCHEME_IDS)
def test_every_activation_and_gradient_keeps_the_model_dtype(position, tie, dtype):
    model = tiny_model(position, tie, dtype=np.dtype(dtype).name)
    ids, targets, mask = random_batch(np.random.default_rng(0), B=2, T=6, vocab_size=7)
    logits, cache = model.forward(ids, return_cache=True)
    assert logits.dtype == dtype
    activations = list(_floating_arrays(cache))
    assert len(activations) > 20
    assert {a.dtype for a in activations} == {np.dtype(dtype)}
    loss, grads = model.loss_and_grads(ids, targets, mask.astype(np.float64))  # a float64 mask is cast
    assert isinstance(loss, float)
    for name, grad in grads.items():
        assert grad.dtype == dtype, name
        assert grad.shape == model.params[name].shape, name


# ---- learning ----

def test_a_tiny_model_learns_one_batch_by_heart():
    """Adam on one fixed batch drives the loss near zero: forward, backward and update fit together."""
    config = GPTConfig(vocab_size=10, n_layer=2, n_head=2, n_embd=32, block_size=16)
    model = GPT(config, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 10, (4, 12))
    targets = rng.integers(0, 10, (4, 12))  # random targets: only memorising gets them right
    mask = np.ones((4, 12), bool)
    mask[:, :2] = False
    optimizer = AdamW(model.decay_names(), weight_decay=0.0)
    first_loss = model.loss(ids, targets, mask)
    assert first_loss > 2.0  # about log(10) at the start
    for step in range(1, 301):
        loss, grads = model.loss_and_grads(ids, targets, mask)
        if loss < 0.05:
            break
        optimizer.step(model.params, grads, lr=1e-2)
    assert loss < 0.05, f"loss still {loss:.3f} after {step} steps"
    assert all(np.all(np.isfinite(p)) for p in model.params.values())

