"""Packing moves every problem of a padded batch into fewer rows without changing what any problem computes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minipad.model import GPT, GPTConfig, TokenLayout
from minipad.packing import first_fit_rows, pack, problem_lengths

VOCAB = 11
SCHEMES = [dict(position="learned"), dict(position="none"), dict(position="rope"),
           dict(position="rope", position_ids="coupled", places=6, roles=3, line_window=True)]


def padded_batch(rng, lengths, prompt=2):
    """Rows as make_batch pads them: a prompt (not counted), counted targets, then padding (-1 targets)."""
    B, T = len(lengths), max(lengths)
    ids = np.zeros((B, T), np.int64)
    targets = np.full((B, T), -1, np.int64)
    mask = np.zeros((B, T), np.float32)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, VOCAB, n)
        targets[row, :n] = rng.integers(0, VOCAB, n)
        mask[row, min(prompt, n - 1):n] = 1.0
    return ids, targets, mask


def random_layout(rng, lengths, scheme):
    """Layout ids as a task's layout gives them: non-decreasing lines, places, roles, positions."""
    if scheme.get("position_ids") != "coupled":
        return None
    B, T = len(lengths), max(lengths)
    return TokenLayout(positions=np.sort(rng.integers(0, 60, (B, T)), axis=1),
                       places=rng.integers(0, scheme["places"], (B, T)),
                       lines=np.sort(rng.integers(0, 4, (B, T)), axis=1),
                       roles=rng.integers(0, scheme["roles"], (B, T)))


def model_for(scheme, seed=0):
    model = GPT(GPTConfig(vocab_size=VOCAB, n_layer=2, n_head=2, n_embd=8, block_size=32, dtype="float64",
                          **scheme), np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for array in model.params.values():
        array += rng.standard_normal(array.shape) * 0.3
    return model


lengths_lists = st.lists(st.integers(1, 12), min_size=1, max_size=7)


def scenario(scheme, seed, lengths):
    """A float64 model of the scheme and a padded batch of problems of the given lengths, with its layout."""
    rng = np.random.default_rng(seed)
    ids, targets, mask = padded_batch(rng, lengths)
    return model_for(scheme), ids, targets, mask, random_layout(rng, lengths, scheme)


@given(lengths=lengths_lists)
def test_first_fit_fills_rows_no_longer_than_the_longest_problem(lengths):
    rows = first_fit_rows(lengths, max(lengths))
    assert sorted(index for row in rows for index in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= max(lengths) for row in rows)
    assert len(rows) <= len(lengths)
    assert first_fit_rows(lengths, max(lengths)) == rows  # the same every time: no random draw


def test_a_row_ends_at_its_last_counted_target():
    mask = np.array([[0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1]])
    assert list(problem_lengths(mask)) == [3, 0, 5]


@pytest.mark.parametrize("scheme", SCHEMES, ids=str)
@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1), lengths=lengths_lists)
def test_each_packed_problem_has_the_logits_it_has_alone(scheme, seed, lengths):
    model, ids, targets, mask, layout = scenario(scheme, seed, lengths)
    packed = pack(ids, targets, mask, layout)
    assert packed.ids.shape[1] == max(lengths) and packed.ids.shape[0] <= len(lengths)
    assert packed.mask.sum() == mask.sum()
    logits = model.forward(packed.ids, layout=packed.layout)
    found = 0
    for row in range(packed.ids.shape[0]):
        segments = packed.layout.segments[row]
        for segment in np.unique(segments):
            columns = np.flatnonzero(segments == segment)
            n = len(columns)
            matches = [b for b in range(len(lengths)) if lengths[b] == n and np.array_equal(ids[b, :n],
                                                                                               packed.ids[row, columns])]
            if not matches:  # the row's padding
                assert packed.mask[row, columns].sum() == 0
                continue
            b = matches[0]
            alone_layout = None if layout is None else TokenLayout(*(a[b:b + 1, :n] for a in layout[:4]))
            alone = model.forward(ids[b:b + 1, :n], layout=alone_layout)[0]
            np.testing.assert_allclose(logits[row, columns], alone, rtol=1e-10, atol=1e-12)
            found += 1
    assert found >= len(lengths)


@pytest.mark.parametrize("scheme", SCHEMES, ids=str)
@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1), lengths=lengths_lists)
def test_a_packed_batch_has_the_padded_batch_loss_and_gradients(scheme, seed, lengths):
    model, ids, targets, mask, layout = scenario(scheme, seed, lengths)
    loss, grads = model.loss_and_grads(ids, targets, mask, layout=layout)
    packed = pack(ids, targets, mask, layout)
    packed_loss, packed_grads = model.loss_and_grads(*packed[:3], layout=packed.layout)
    assert packed_loss == pytest.approx(loss, rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(packed_grads[name], grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_packing_removes_the_padding():
    rng = np.random.default_rng(0)
    lengths = [10, 3, 7, 2, 5, 8]
    ids, targets, mask = padded_batch(rng, lengths)
    packed = pack(ids, targets, mask)
    assert packed.ids.shape == (4, 10)  # 35 tokens in 4 rows of 10, not 6
    assert (packed.ids != 0).sum() == sum(lengths)  # ids are never 0 in this batch: 5 padding columns left
    assert pack(ids, targets, np.zeros_like(mask)) is None
