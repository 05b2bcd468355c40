"""Packing: the problems of a padded batch laid end to end in fewer rows, so that no step computes on padding.

A padded batch (minipad/data.py make_batch) gives every problem a row of the longest problem's length;
for 1-8 digit scratchpads about 38% of it is padding, and every layer computes on it. pack() moves the
same problems into rows one after another:

    padded (B=4, T=9)              packed (R=2, L=9)            segments        positions
    a a a a a a a . .              a a a a a a a c c            0 0 0 0 0 0 0 1 1   0 1 2 3 4 5 6 0 1
    b b b b b b . . .              b b b b b b d d d            0 0 0 0 0 0 1 1 1   0 1 2 3 4 5 0 1 2
    c c . . . . . . .
    d d d . . . . . .

Nothing a problem computes changes: attention sees only keys of the query's own problem (the model's mask
from layout.segments, block-diagonal and causal), positions restart at 0 at each problem (or keep the ids
its own layout gave it: places, lines, roles), and its loss mask moves with it. So a packed batch gives
the padded batch's loss and gradients, up to the order of floating-point sums, and training learns
exactly what it learned before; no random draw is made, so a run stays reproducible and resumes exactly.

A padded row's problem ends at its last counted target: the columns after it count for nothing and,
attention being causal, change nothing before them, so they are dropped. Rows are filled first-fit, the
longest problems first, into rows of a given length (training: minipad/parallel.py's PACKED_ROW_LENGTH;
at least the longest problem): no problem is ever split.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import TokenLayout


class PackedBatch(NamedTuple):
    ids: np.ndarray      # (R,L) token ids, 0 after the last problem of a row
    targets: np.ndarray  # (R,L) next-token targets, 0 where not counted
    mask: np.ndarray     # (R,L) the problems' loss masks, 0 on the padding
    layout: TokenLayout  # the problems' own ids, positions restarting per problem, and segments


def problem_lengths(loss_mask) -> np.ndarray:
    """(B,) columns of each padded row up to and including its last counted target; 0 if it counts none."""
    counted = np.asarray(loss_mask) != 0  # (B,T)
    T = counted.shape[1]
    last = T - np.argmax(counted[:, ::-1], axis=1)  # one past the last counted column
    return np.where(counted.any(axis=1), last, 0)


def first_fit_rows(lengths, row_length) -> list[list[int]]:
    """Indices into lengths, per row: longest first, each into the first row with room (ties: lower index)."""
    order = sorted(range(len(lengths)), key=lambda index: (-lengths[index], index))
    rows, room = [], []
    for index in order:
        for row, free in enumerate(room):
            if free >= lengths[index]:
                rows[row].append(index)
                room[row] -= lengths[index]
                break
        else:
            rows.append([index])
            room.append(row_length - lengths[index])
    return rows


def pack(ids, targets, loss_mask, layout: TokenLayout | None = None, row_length: int | None = None) \
        -> PackedBatch | None:
    """The problems of a padded (B,T) batch (and its layout, if any) packed into (R,L) rows.

    row_length: L, at least the longest problem (which it defaults to). None if no row counts a target
    (there is nothing to compute).
    """
    lengths = problem_lengths(loss_mask)
    kept = [index for index in range(len(lengths)) if lengths[index] > 0]
    if not kept:
        return None
    row_length = max(int(lengths.max()), row_length or 0)
    rows = [[kept[i] for i in row] for row in first_fit_rows([int(lengths[index]) for index in kept], row_length)]
    R = len(rows)
    mask = np.asarray(loss_mask)
    packed_ids = np.zeros((R, row_length), np.asarray(ids).dtype)
    packed_targets = np.zeros((R, row_length), np.asarray(targets).dtype)
    packed_mask = np.zeros((R, row_length), mask.dtype)
    segments = np.zeros((R, row_length), np.int64)
    positions = np.zeros((R, row_length), np.int64)
    layout = layout or TokenLayout()
    ids_fields = {name: np.zeros((R, row_length), np.int64)
                  for name in ("places", "lines", "roles") if getattr(layout, name) is not None}
    for row, problems in enumerate(rows):
        column = 0
        for segment, index in enumerate(problems):
            n = int(lengths[index])
            columns = slice(column, column + n)
            packed_ids[row, columns] = ids[index, :n]
            packed_targets[row, columns] = np.where(mask[index, :n] != 0, targets[index, :n], 0)
            packed_mask[row, columns] = mask[index, :n]
            segments[row, columns] = segment
            positions[row, columns] = np.arange(n) if layout.positions is None else layout.positions[index, :n]
            for name, array in ids_fields.items():
                array[row, columns] = getattr(layout, name)[index, :n]
            column += n
        segments[row, column:] = len(problems)  # the padding at the row's end: a segment of its own
    return PackedBatch(packed_ids, packed_targets, packed_mask,
                       TokenLayout(positions=positions, segments=segments, **ids_fields))
