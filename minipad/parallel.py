"""Data parallelism on one machine: threads each run forward and backward on a slice of the batch.

NumPy releases the GIL inside its array operations, so two Python threads, each on half of the
batch, keep both cores of a laptop busy. This beats letting the BLAS library split each matrix
product over two threads: the per-head products (T x T, with T around 180) are too small for that to
pay, and the element-wise work (softmax, LayerNorm, GELU) runs on one core anyway.

How the parts add up to the whole batch. The loss is a mean over the counted tokens,

    loss = sum over all counted tokens of nll / count,

so if every part divides its own sum by the *whole batch's* count (model.loss_and_grads's
`normalizer`), the parts' losses add up to the batch loss and, the gradient being linear in the loss,
their gradients add up to the batch gradient. A part with many padded (uncounted) tokens weighs less,
exactly as it does in the full batch.

The result equals the single-call result up to floating-point rounding (the sums are taken in a
different order) and is reproducible: the split and the order of the sums are fixed.

Only one BLAS thread per Python thread: set OPENBLAS_NUM_THREADS=1 (and OMP_NUM_THREADS=1 for other
BLAS builds) in the environment *before* NumPy is imported. Otherwise each Python thread's products
start their own BLAS threads and the cores are oversubscribed (`python -m minipad bench` measures it).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["DataParallel", "parallel_loss_and_grads", "split_batch"]


def split_batch(batch_size: int, n_parts: int) -> list[slice]:
    """Contiguous row slices of near-equal size (sizes differ by at most one), none of them empty."""
    if n_parts < 1:
        raise ValueError(f"n_parts must be at least 1, got {n_parts}")
    n_parts = min(n_parts, batch_size) or 1
    bounds = [round(part * batch_size / n_parts) for part in range(n_parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


class DataParallel:
    """`model.loss_and_grads` split over `n_threads` threads; the same call signature and result.

        parallel = DataParallel(model, n_threads=2)
        loss, grads = parallel.loss_and_grads(ids, targets, loss_mask)   # as model.loss_and_grads
        ...
        parallel.close()    # or use it as a context manager: with DataParallel(model) as parallel:

    The threads are started once and reused for every call.
    """

    def __init__(self, model, n_threads: int = 2):
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        self.model = model
        self.n_threads = n_threads
        self._executor = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="minipad-data-parallel")

    def loss_and_grads(self, ids, targets, loss_mask, layout=None):
        """ids, targets, loss_mask (B,T) -> (loss, grads), as one call of model.loss_and_grads would give."""
        return _split_loss_and_grads(self.model, ids, targets, loss_mask, self.n_threads, self._executor, layout)

    def close(self) -> None:
        """Stop the worker threads."""
        self._executor.shutdown(wait=True)

    def __enter__(self) -> "DataParallel":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _split_loss_and_grads(model, ids, targets, loss_mask, n_parts, executor, layout=None):
    """Split the batch rows into up to n_parts contiguous parts (see split_batch); run each part with the
    whole batch's count of counted tokens as its normalizer; sum losses and gradients in part order.
    layout: None or a TokenLayout of (B,T) arrays, split by rows like the batch."""
    ids = model.check_inputs(ids, targets, loss_mask, layout)  # fail here, not inside a worker thread
    targets, loss_mask = np.asarray(targets), np.asarray(loss_mask)
    # The same count the loss uses for the whole batch: the sum of the mask, in the model's dtype.
    count = float(np.asarray(loss_mask, dtype=model.dtype).sum())
    parts = split_batch(ids.shape[0], n_parts)
    if len(parts) == 1:
        return model.loss_and_grads(ids, targets, loss_mask, layout=layout)

    def rows_of(rows):
        return None if layout is None else type(layout)(*(None if a is None else a[rows] for a in layout))

    futures = [executor.submit(model.loss_and_grads, ids[rows], targets[rows], loss_mask[rows], count,
                               rows_of(rows)) for rows in parts]
    results = [future.result() for future in futures]
    loss, grads = results[0]
    for part_loss, part_grads in results[1:]:
        loss += part_loss
        for name, grad in grads.items():
            grad += part_grads[name]  # the part's arrays are fresh: adding in place is safe
    return loss, grads


_shared_executors: dict[int, ThreadPoolExecutor] = {}
_shared_lock = threading.Lock()


def parallel_loss_and_grads(model, ids, targets, loss_mask, n_threads: int = 2, layout=None):
    """One-call form of DataParallel(model, n_threads).loss_and_grads(ids, targets, loss_mask).

    The worker threads are shared by all calls with the same n_threads and kept until the program ends.
    """
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    with _shared_lock:
        executor = _shared_executors.get(n_threads)
        if executor is None:
            executor = _shared_executors[n_threads] = ThreadPoolExecutor(
                max_workers=n_threads, thread_name_prefix="minipad-data-parallel")
    return _split_loss_and_grads(model, ids, targets, loss_mask, n_threads, executor, layout)
