"""The memory estimate of a training step: close to what a step takes, and sizes beyond the machine refused."""
import tracemalloc

import numpy as np
import pytest

from minipad.errors import UserError
from minipad.memory import check_fits_in_memory, training_step_bytes
from minipad.model import GPT, GPTConfig


def test_the_estimate_covers_what_a_step_takes_without_being_far_above_it():
    B, T, C, L, NH, V = 16, 120, 64, 2, 4, 100
    model = GPT(GPTConfig(vocab_size=V, n_layer=L, n_head=NH, n_embd=C, block_size=T), np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, V, (B, T))
    tracemalloc.start()   # NumPy reports its array memory to tracemalloc
    try:
        model.loss_and_grads(ids, ids, np.ones((B, T), np.float32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = training_step_bytes(L, NH, C, V, B, T)
    assert peak <= estimate <= 3 * peak, (peak, estimate)
    # doubling the batch doubles all but the weights
    assert training_step_bytes(L, NH, C, V, 2 * B, T) > 1.9 * estimate


def test_a_size_beyond_the_memory_available_is_refused_with_the_estimate():
    with pytest.raises(UserError, match=r"needs about 5\.0 GB of memory but this machine has 1\.0 GB available: "
                                        r"lower it"):
        check_fits_in_memory(5 * 10**9, "a step", "lower it", available=10**9)
    check_fits_in_memory(10**8, "a step", "lower it", available=10**9)   # fits: nothing said
