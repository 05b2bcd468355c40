"""How a training step computes its batch: packed (no padding), and split over worker processes.

    loss, grads = parallel_loss_and_grads(model, ids, targets, loss_mask, n_workers=2, layout=layout)

gives what model.loss_and_grads(ids, targets, loss_mask, layout=layout) gives, faster. Training and the
benchmark both call it.

Packing (minipad/packing.py). The problems of the padded batch are laid end to end in fewer rows of
PACKED_ROW_LENGTH tokens, each problem seeing only itself; the loss and gradients are the padded batch's,
without computing on padding.

Workers. The rows are cut into n_workers contiguous parts. This process computes the first part while
n_workers - 1 worker processes (minipad/workers.py) compute the others, each on a core of its own. Two
processes on a 2-core machine made a step 1.7-1.9 times faster than one (`python -m minipad bench`, both
sizes), where two Python threads had made it 1.25 (default model) to 1.66 (4 layers, width 128) times
faster: the threads queue for the interpreter lock at each of a step's thousands of small NumPy calls.
(One BLAS thread per process: the per-head products are too small for BLAS threads to pay, and the
element-wise work, softmax, LayerNorm and GELU, runs on one core anyway.)

How the parts add up to the whole batch. The loss is a mean over the counted tokens,

    loss = sum over all counted tokens of nll / count,

so if every part divides its own sum by the *whole batch's* count (model.loss_and_grads's
`normalizer`), the parts' losses add up to the batch loss and, the gradient being linear in the loss,
their gradients add up to the batch gradient. The result equals the single call up to floating-point
rounding (the sums are taken in a different order) and is reproducible: the packing, the split and the
order of the sums are fixed, and a worker computes its part exactly as this process would.

Only one BLAS thread per process: set OPENBLAS_NUM_THREADS=1 (and OMP_NUM_THREADS=1 for other BLAS
builds) in the environment *before* NumPy is imported (minipad/__main__.py does; the workers get it too).
Otherwise each process's products start their own BLAS threads and the cores are oversubscribed.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from .packing import pack
from .workers import WorkerError, worker_process

__all__ = ["parallel_loss_and_grads", "split_batch"]

# Tokens per packed row (at most the model's block size; at least the longest problem). Rows of 256-512 tokens
# were 7-10% faster than rows of 1,024 with 2 threads (default model): attention takes the queries in blocks
# of rows across the whole batch, and fewer, longer rows make more, smaller blocks, where NumPy's per-call
# overhead weighs more. Every length fills rows 88-94%.
PACKED_ROW_LENGTH = 384
_one_step_at_a_time = threading.Lock()


def split_batch(batch_size: int, n_parts: int) -> list[slice]:
    """Contiguous row slices of near-equal size (sizes differ by at most one), none of them empty."""
    if n_parts < 1:
        raise ValueError(f"n_parts must be at least 1, got {n_parts}")
    n_parts = min(n_parts, batch_size) or 1
    bounds = [round(part * batch_size / n_parts) for part in range(n_parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def parallel_loss_and_grads(model, ids, targets, loss_mask, n_workers: int = 2, layout=None, packed: bool = True):
    """ids, targets, loss_mask (B,T), layout None or a TokenLayout of (B,T) arrays -> (loss, grads), as one
    call of model.loss_and_grads would give.

    packed: pack the problems first (minipad/packing.py); False computes the padded rows as they are.
    n_workers: processes computing a contiguous part of the rows each, this one included (1: this one alone).
    Calls from several threads take turns. If a worker process fails or stops, its part is computed in
    this process (the same numbers) and the next step starts a new worker.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    ids = model.check_inputs(ids, targets, loss_mask, layout)  # fail here, with the model's message
    targets, loss_mask = np.asarray(targets), np.asarray(loss_mask)
    # The same count the loss uses for the whole batch: the sum of the mask, in the model's dtype.
    count = float(np.asarray(loss_mask, dtype=model.dtype).sum())
    if packed:
        batch = pack(ids, targets, loss_mask, layout, row_length=min(PACKED_ROW_LENGTH, model.config.block_size))
        if batch is not None:  # None: nothing is counted, and the padded call returns the zero gradients
            ids, targets, loss_mask, layout = batch
    parts = split_batch(ids.shape[0], n_workers)
    if len(parts) == 1:
        return model.loss_and_grads(ids, targets, loss_mask, count, layout)

    def rows_of(rows):
        return None if layout is None else type(layout)(*(None if a is None else a[rows] for a in layout))

    def part(rows):
        return ids[rows], targets[rows], loss_mask[rows], count, rows_of(rows)

    with _one_step_at_a_time:  # the workers serve one step at a time, whichever thread asks
        workers = [worker_process(index) for index in range(len(parts) - 1)]
        for worker, rows in zip(workers, parts[1:]):  # the other parts start first...
            worker.submit(model, *part(rows))
        loss, grads = model.loss_and_grads(*part(parts[0]))  # ...while this process computes the first
        for worker, rows in zip(workers, parts[1:]):  # summed in a fixed order, whichever part ends first
            try:
                part_loss, part_grads = worker.result()
            except WorkerError as error:  # e.g. killed by the system: the same part, computed here instead
                print(f"minipad: {str(error).splitlines()[0]}; its part of the step was computed here, and a "
                      f"new worker process takes over", file=sys.stderr)
                part_loss, part_grads = model.loss_and_grads(*part(rows))
            loss += part_loss
            for name, grad in grads.items():
                grad += part_grads[name]  # into this process's own fresh arrays (the worker's may be views)
    return loss, grads
