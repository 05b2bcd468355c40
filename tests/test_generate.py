"""Decoding with the key/value cache gives exactly what recomputing everything with GPT.forward gives."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipad.generate import KVCache, forward_step, generate
from minipad.model import GPT, GPTConfig

SCHEMES = [(position, tie) for position in ("learned", "none", "rope") for tie in (True, False)]
SCHEME_IDS = [f"{position}-{'tied' if tie else 'untied'}" for position, tie in SCHEMES]
VOCAB = 11


def random_model(position="learned", tie_weights=True, dtype="float32", block_size=24, seed=0):
    """A model with large random weights, so that greedy decoding does not settle on one token."""
    config = GPTConfig(vocab_size=VOCAB, n_layer=2, n_head=2, n_embd=16, block_size=block_size,
                       position=position, tie_weights=tie_weights, dtype=dtype)
    model = GPT(config, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for array in model.params.values():
        array += (rng.standard_normal(array.shape) * 0.5).astype(array.dtype)
    return model


def greedy_by_recomputing(model, prompt, max_new_tokens, stop_token=None):
    """The reference: run the whole sequence through GPT.forward for every new token."""
    sequence, new = list(prompt), []
    while len(new) < max_new_tokens and len(sequence) < model.config.block_size:
        token = int(model.forward(np.array([sequence]))[0, -1].argmax())
        if token == stop_token:
            break
        new.append(token)
        sequence.append(token)
    return new


def left_padded(prompts):
    lengths = np.array([len(p) for p in prompts])
    width = lengths.max()
    ids = np.zeros((len(prompts), width), np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = prompt
    return ids, width - lengths


@pytest.mark.parametrize("position, tie", SCHEMES, ids=SCHEME_IDS)
@given(seed=st.integers(0, 2**32 - 1), lengths=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       chunks=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_cached_logits_equal_the_full_forward(position, tie, seed, lengths, chunks):
    """Prompts of different lengths in one batch, fed as a prefill and then in chunks of new columns."""
    model = random_model(position, tie, block_size=32)  # room for a 9-token prompt and 16 more
    rng = np.random.default_rng(seed)
    continuation = rng.integers(0, VOCAB, (len(lengths), sum(chunks)))
    prompts = [list(rng.integers(0, VOCAB, n)) for n in lengths]
    ids, start = left_padded(prompts)
    cache = KVCache(model, len(prompts), ids.shape[1] + continuation.shape[1], start)
    pieces = [forward_step(model, ids, cache)]
    column = 0
    for size in chunks:
        pieces.append(forward_step(model, continuation[:, column:column + size], cache))
        column += size
    cached = np.concatenate(pieces, axis=1)  # (B, width + continuation, V)
    assert cached.dtype == np.float32
    for row, prompt in enumerate(prompts):
        full = model.forward(np.array([prompt + list(continuation[row])]))[0]
        np.testing.assert_allclose(cached[row, start[row]:], full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("position, tie", SCHEMES, ids=SCHEME_IDS)
def test_generate_equals_greedy_decoding_by_recomputing(position, tie):
    model = random_model(position, tie, dtype="float64")  # float64: no near-tie can flip an argmax
    rng = np.random.default_rng(4)
    prompts = [list(rng.integers(0, VOCAB, n)) for n in (1, 5, 3, 9, 2, 7)]
    unstopped = generate(model, prompts, max_new_tokens=12, batch_size=1)
    assert unstopped == [greedy_by_recomputing(model, p, 12) for p in prompts]
    stop_token = unstopped[0][3]  # the first row stops after 3 tokens at most
    results = generate(model, prompts, max_new_tokens=12, stop_token=stop_token, batch_size=4)
    assert results == [greedy_by_recomputing(model, p, 12, stop_token) for p in prompts]
    assert all(stop_token not in r for r in results)
    assert len({len(r) for r in results}) > 1, "the rows should stop at different steps"


def test_rows_stop_at_block_size():
    model = random_model(block_size=10)
    prompts = [[1] * 10, [2] * 9, [3] * 4, [4]]
    results = generate(model, prompts, max_new_tokens=100)
    assert [len(r) for r in results] == [0, 1, 6, 9]
    assert all(isinstance(token, int) for r in results for token in r)
    with pytest.raises(ValueError, match="block_size"):
        generate(model, [[1] * 11], max_new_tokens=1)


def test_max_new_tokens_and_bad_prompts():
    model = random_model()
    assert generate(model, [[1, 2], [3]], max_new_tokens=0) == [[], []]
    assert [len(r) for r in generate(model, [[1, 2], [3]], max_new_tokens=4)] == [4, 4]
    assert generate(model, [], max_new_tokens=4) == []
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[1], []], max_new_tokens=4)


def test_the_cache_refuses_to_overflow():
    model = random_model()
    cache = KVCache(model, batch_size=2, max_length=3)
    forward_step(model, np.zeros((2, 3), np.int64), cache)
    assert cache.length == 3
    with pytest.raises(ValueError, match="cache"):
        forward_step(model, np.zeros((2, 1), np.int64), cache)
    with pytest.raises(ValueError, match="one column per row"):
        KVCache(model, batch_size=2, max_length=3, start=[0, 1, 2])
    too_long = KVCache(model, batch_size=1, max_length=30)
    with pytest.raises(ValueError, match="block_size"):
        forward_step(model, np.zeros((1, 25), np.int64), too_long)
