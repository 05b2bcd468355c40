"""Rotary position embedding (RoPE, Su et al. 2021), applied to queries and keys inside attention.

Each head vector is split into halves (x1, x2); pair i, (x1[i], x2[i]), is rotated by the angle
position * base^(-2i/HS):
    out1 = x1 * cos - x2 * sin
    out2 = x1 * sin + x2 * cos
A query at position m and a key at position n then meet through a rotation by (m - n) only: attention
sees relative positions.

Two forms, the same maths (tests check that they agree in float64 and pass the gradient check):
  rope_forward_reference, rope_backward_reference   the two lines above, on the halves;
  rope_forward, rope_backward                        the fast form attention runs, on whole head vectors:
        out = x * [cos, cos] + rotate_half(x) * [sin, sin],   rotate_half(x) = [-x2, x1] = x @ P
    with P a fixed (HS,HS) matrix of 0, 1 and -1 (one non-zero per column, so the product is exact).
    NumPy works through an array in runs of its last axis; on halves that run is HS/2 = 8 numbers and the
    loop overhead dominates (the halves form took 10% of a training step; swapping the halves as a strided
    view still took 8%). On whole vectors the (T,HS) axes merge into one long run, and the swap of the
    halves is a single matrix product over all the rows, about 4 times faster than the strided swap.
"""
import functools
from typing import NamedTuple

import numpy as np

ROPE_BASE = 10000.0


class RopeCache(NamedTuple):
    cos: np.ndarray  # (T,HS/2) or (B,1,T,HS/2)
    sin: np.ndarray


def rope_tables(positions, head_size, dtype, base=ROPE_BASE):
    """cos and sin of every rotation angle, computed in float64 and cast to dtype.

    positions: integer array (T,) or (B,T) -> (cos, sin), each positions.shape + (HS/2,).

    A batch repeats the same few hundred positions in every row, so the tables are computed once per
    distinct position and then looked up: float64 cos and sin of every (B,T,HS/2) angle of a half batch
    (16 x 183 tokens) took 0.6 ms (HS 16) to 1.2 ms (HS 32); the distinct positions and the lookup 0.15 ms.
    """
    frequencies = base ** (-np.arange(0, head_size, 2, dtype=np.float64) / head_size)  # (HS/2,)
    positions = np.asarray(positions)
    distinct, where = np.unique(positions, return_inverse=True)  # (P,), and each position's index in it
    where = where.reshape(positions.shape)  # NumPy 1.x returns it flattened
    angles = distinct.astype(np.float64)[:, None] * frequencies  # (P,HS/2)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)
    return cos[where], sin[where]  # (T,HS/2) or (B,T,HS/2)


def _per_head(cos, sin):
    """(T,HS/2) stays; (B,T,HS/2) -> (B,1,T,HS/2), the same for every head."""
    return (cos[:, None], sin[:, None]) if cos.ndim == 3 else (cos, sin)


def rope_forward_reference(x, cos, sin):
    """Rotate the halves of every head vector by the angles of its position.

    x (B,NH,T,HS), or any stack of such arrays (..., B,NH,T,HS); cos and sin (T,HS/2) shared by every
    sequence, or (B,T,HS/2) one row of positions per sequence (the same for every head) -> out like x.
    """
    cos, sin = _per_head(cos, sin)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    out = np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return out, RopeCache(cos, sin)


def rope_backward_reference(dout, cache):
    """The rotation is orthogonal, so its gradient is the rotation by the opposite angle:

        dx1 = dout1 * cos + dout2 * sin,   dx2 = -dout1 * sin + dout2 * cos
    """
    cos, sin = cache
    half = dout.shape[-1] // 2
    dout1, dout2 = dout[..., :half], dout[..., half:]
    # forward was: out1 = x1 * cos - x2 * sin, out2 = x1 * sin + x2 * cos
    return np.concatenate([dout1 * cos + dout2 * sin, dout2 * cos - dout1 * sin], axis=-1), {}


@functools.lru_cache(maxsize=8)
def rotate_half_matrix(head_size, dtype):
    """P (HS,HS) with x @ P = rotate_half(x) = [-x2, x1] for every head vector x = [x1, x2]; read-only."""
    half = head_size // 2
    P = np.zeros((head_size, head_size), dtype)
    P[half:, :half] = -np.eye(half)  # first half of the result: -x2
    P[:half, half:] = np.eye(half)   # second half: x1
    P.setflags(write=False)
    return P


def _wide(table):
    """(..., HS/2) -> (..., HS): [table, table], one factor for each half of a head vector."""
    return np.concatenate([table, table], axis=-1)


def _times_rows(x, matrix):
    """x (..., HS) @ matrix (HS,HS), as one product over all the rows (one BLAS call, not one per head)."""
    HS = x.shape[-1]
    return (x.reshape(-1, HS) @ matrix).reshape(x.shape)


def rope_forward(x, cos, sin):
    """The fast form of rope_forward_reference: out = x * [cos, cos] + (x @ P) * [sin, sin]. Same cache."""
    cos, sin = _per_head(cos, sin)
    out = _times_rows(x, rotate_half_matrix(x.shape[-1], x.dtype))  # rotate_half(x)
    out *= _wide(sin)  # (T,HS) or (B,1,T,HS), broadcast over the heads
    out += x * _wide(cos)
    return out, RopeCache(cos, sin)


def rope_backward(dout, cache, out=None):
    """The fast form of rope_backward_reference. forward was: out = x * C + (x @ P) * S, so
    dx = dout * C + (dout * S) @ P^T.

    out: None, or an array shaped like dout (any strides) to write dx into, e.g. a view of a larger array.
    """
    cos, sin = cache
    rotated_back = _times_rows(dout * _wide(sin), rotate_half_matrix(dout.shape[-1], dout.dtype).T)
    return np.add(rotated_back, dout * _wide(cos), out=out), {}
