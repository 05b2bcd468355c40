"""How much memory a training step takes, estimated before any of it is asked for.

A size that cannot fit (``--batch-size 1000000``, ``--n-embd 100000``, ``bench --seq-len 100000``) is
refused up front with the estimate, instead of failing after minutes or taking the machine's memory.
Counted in float32 numbers (4 bytes each), for B sequences of T tokens, width C, NH heads, L blocks and a
vocabulary of V:

    weights, gradients and AdamW's two moments     (1 + 3 W) * N    N = 12 L C^2 + 2 V C + T C
    (each of the W - 1 worker processes holds 3 N more: the weights and gradients in its shared areas, and
    its own gradients; the activations are shared out among the W processes, so they count once)
    cached for the backward pass, per block        26 B T C + 2 B NH T T
    logits, probabilities and their gradient       3 B T V

Per block the cache holds the inputs of both LayerNorms and of the four linear layers (the MLP's at 4C),
q, k, v and the attention output, and the attention weights (B NH T T); the backward pass makes
temporaries of the same sizes. The coefficients were fitted to the peak memory of GPT.loss_and_grads
measured for three sizes (B, T, C, L, NH = 32, 193, 64, 2, 4; 16, 400, 128, 4, 4; 64, 100, 256, 2, 8:
152, 544 and 446 MB, estimated 168, 690 and 457 MB): on the high side, so that only sizes that truly
cannot fit are refused.
"""
from __future__ import annotations

from .errors import UserError

BYTES_PER_NUMBER = 4   # float32


def training_step_bytes(n_layer: int, n_head: int, n_embd: int, vocab_size: int, batch_size: int, seq_len: int,
                        workers: int = 1) -> int:
    """Estimated bytes of one training step (formula in the module docstring)."""
    B, T, C, NH, L, V = batch_size, seq_len, n_embd, n_head, n_layer, vocab_size
    weights = 12 * L * C * C + 2 * V * C + T * C
    per_block = 26 * B * T * C + 2 * B * NH * T * T
    return BYTES_PER_NUMBER * ((1 + 3 * workers) * weights + L * per_block + 3 * B * T * V)


def available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux's MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gigabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:,.1f} GB"


def check_fits_in_memory(needed: int, what: str, fix: str, available: int | None = None) -> None:
    """UserError with the estimate if ``needed`` bytes exceed the memory available now."""
    available = available_bytes() if available is None else available
    if available is not None and needed > available:
        raise UserError(f"{what} needs about {gigabytes(needed)} of memory but this machine has "
                        f"{gigabytes(available)} available: {fix}")
