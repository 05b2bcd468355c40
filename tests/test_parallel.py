"""Packed, data-parallel loss and gradients equal one call on the whole padded batch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minipad.model import GPT, GPTConfig
from minipad.model import TokenLayout
from minipad.parallel import parallel_loss_and_grads, split_batch


pytestmark = pytest.mark.usefixtures("workers_answer")  # no worker may fail unnoticed behind the fallback


def relative_error(received, expected):
    scale = max(np.linalg.norm(expected), 1e-300)
    return np.linalg.norm(received - expected) / scale


def tiny_model(dtype="float64", position="learned", tie_weights=True, seed=0, **scheme):
    config = GPTConfig(vocab_size=13, n_layer=2, n_head=2, n_embd=8, block_size=16, position=position,
                       tie_weights=tie_weights, dtype=dtype, **scheme)
    return GPT(config, np.random.default_rng(seed))


def random_batch(rng, batch, length, vocab, mask_kind):
    ids = rng.integers(0, vocab, size=(batch, length))
    targets = rng.integers(0, vocab, size=(batch, length))
    if mask_kind == "ones":
        mask = np.ones((batch, length))
    elif mask_kind == "zeros":
        mask = np.zeros((batch, length))
    else:  # uneven padding: some rows count far more tokens than others
        mask = (rng.random((batch, length)) < rng.random((batch, 1))).astype(np.float64)
        targets = np.where(mask == 1, targets, -1)  # uncounted targets may hold anything
    return ids, targets, mask


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("position,tie_weights", [("learned", True), ("rope", False), ("none", True)])
@pytest.mark.parametrize("batch,n_workers", [(4, 2), (5, 2), (7, 3), (1, 2), (2, 4)])
def test_parallel_equals_single_call_in_float64(position, tie_weights, batch, n_workers, packed):
    model = tiny_model(position=position, tie_weights=tie_weights)
    ids, targets, mask = random_batch(np.random.default_rng(batch), batch, 9, 13, "padded")
    expected_loss, expected_grads = model.loss_and_grads(ids, targets, mask)
    loss, grads = parallel_loss_and_grads(model, ids, targets, mask, n_workers, packed=packed)
    assert abs(loss - expected_loss) <= 1e-12 * abs(expected_loss)
    assert sorted(grads) == sorted(expected_grads)
    for name in expected_grads:
        assert grads[name].dtype == np.float64
        error = relative_error(grads[name], expected_grads[name])
        assert error <= 1e-12, f"{name}: relative error {error:.2e}"


@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 6), n_workers=st.integers(1, 4),
       mask_kind=st.sampled_from(["ones", "zeros", "padded"]))
def test_one_call_form_equals_single_call(seed, batch, n_workers, mask_kind):
    model = tiny_model(seed=seed % 3)
    ids, targets, mask = random_batch(np.random.default_rng(seed), batch, 6, 13, mask_kind)
    expected_loss, expected_grads = model.loss_and_grads(ids, targets, mask)
    loss, grads = parallel_loss_and_grads(model, ids, targets, mask, n_workers=n_workers)
    assert abs(loss - expected_loss) <= 1e-12 * abs(expected_loss)
    for name in expected_grads:
        assert relative_error(grads[name], expected_grads[name]) <= 1e-12, name


def test_float32_stays_float32_and_is_close():
    model = tiny_model(dtype="float32")
    ids, targets, mask = random_batch(np.random.default_rng(3), 6, 12, 13, "padded")
    mask = mask.astype(bool)  # a boolean mask works as in the model
    expected_loss, expected_grads = model.loss_and_grads(ids, targets, mask)
    loss, grads = parallel_loss_and_grads(model, ids, targets, mask)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for name, grad in grads.items():
        assert grad.dtype == np.float32, name
        assert relative_error(grad, expected_grads[name]) <= 1e-5, name


def test_the_same_inputs_give_bit_identical_results():
    model = tiny_model(dtype="float32")
    ids, targets, mask = random_batch(np.random.default_rng(4), 8, 12, 13, "padded")
    first_loss, first = parallel_loss_and_grads(model, ids, targets, mask)
    for _ in range(3):
        loss, grads = parallel_loss_and_grads(model, ids, targets, mask)
        assert loss == first_loss
        for name in grads:
            np.testing.assert_array_equal(grads[name], first[name])


def test_a_layout_is_split_and_packed_with_the_rows():
    model = tiny_model(position="rope", places=5, roles=3, line_window=True, position_ids="coupled")
    rng = np.random.default_rng(7)
    ids, targets, mask = random_batch(rng, 5, 10, 13, "padded")
    layout = TokenLayout(positions=rng.integers(0, 40, (5, 10)), places=rng.integers(0, 5, (5, 10)),
                         lines=np.sort(rng.integers(0, 4, (5, 10)), axis=1), roles=rng.integers(0, 3, (5, 10)))
    expected_loss, expected_grads = model.loss_and_grads(ids, targets, mask, layout=layout)
    loss, grads = parallel_loss_and_grads(model, ids, targets, mask, 2, layout)
    assert abs(loss - expected_loss) <= 1e-12 * abs(expected_loss)
    for name in expected_grads:
        assert relative_error(grads[name], expected_grads[name]) <= 1e-12, name


def test_bad_input_fails_in_this_process_with_the_model_message():
    model = tiny_model()
    ids = np.full((4, 5), 99)  # out of the vocabulary
    with pytest.raises(ValueError, match="token ids must lie in"):
        parallel_loss_and_grads(model, ids, ids, np.ones((4, 5)))


@given(batch_size=st.integers(0, 100), n_parts=st.integers(1, 8))
def test_split_batch_covers_every_row_once_in_near_equal_parts(batch_size, n_parts):
    parts = split_batch(batch_size, n_parts)
    rows = [row for part in parts for row in range(batch_size)[part]]
    assert rows == list(range(batch_size))
    sizes = [part.stop - part.start for part in parts]
    assert len(parts) == max(1, min(n_parts, batch_size))
    assert max(sizes) - min(sizes) <= 1
    assert batch_size == 0 or min(sizes) >= 1
