"""Rotary position embedding (RoPE, Su et al. 2021), applied to queries and keys inside attention.

Each head vector is split into halves (x1, x2); pair i, (x1[i], x2[i]), is rotated by the angle
position * base^(-2i/HS):
    out1 = x1 * cos - x2 * sin
    out2 = x1 * sin + x2 * cos
A query at position m and a key at position n then meet through a rotation by (m - n) only: attention
sees relative positions.
"""
from typing import NamedTuple

import numpy as np

ROPE_BASE = 10000.0


class RopeCache(NamedTuple):
    cos: np.ndarray  # (T,HS/2) or (B,1,T,HS/2)
    sin: np.ndarray


def rope_tables(positions, head_size, dtype, base=ROPE_BASE):
    """cos and sin of every rotation angle, computed in float64 and cast to dtype.

    positions: integer array (T,) or (B,T) -> (cos, sin), each positions.shape + (HS/2,).
    """
    frequencies = base ** (-np.arange(0, head_size, 2, dtype=np.float64) / head_size)  # (HS/2,)
    angles = np.asarray(positions, dtype=np.float64)[..., None] * frequencies  # (T,HS/2) or (B,T,HS/2)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def rope_forward(x, cos, sin):
    """Rotate the halves of every head vector by the angles of its position.

    x (B,NH,T,HS); cos and sin (T,HS/2) shared by every sequence, or (B,T,HS/2) one row of positions per
    sequence (the same for every head) -> out (B,NH,T,HS).
    """
    if cos.ndim == 3:  # (B,T,HS/2) -> (B,1,T,HS/2): broadcast over the heads
        cos, sin = cos[:, None], sin[:, None]
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]  # (B,NH,T,HS/2) each
    out = np.empty_like(x)
    np.subtract(x1 * cos, x2 * sin, out=out[..., :half])
    np.add(x1 * sin, x2 * cos, out=out[..., half:])
    return out, RopeCache(cos, sin)


def rope_backward(dout, cache):
    """The rotation is orthogonal, so its gradient is the rotation by the opposite angle:

        dx1 = dout1 * cos + dout2 * sin,   dx2 = -dout1 * sin + dout2 * cos

    dout (B,NH,T,HS) -> (dx (B,NH,T,HS), {}).
    """
    cos, sin = cache
    half = dout.shape[-1] // 2
    dout1, dout2 = dout[..., :half], dout[..., half:]
    dx = np.empty_like(dout)
    # forward was: out1 = x1 * cos - x2 * sin, out2 = x1 * sin + x2 * cos
    np.add(dout1 * cos, dout2 * sin, out=dx[..., :half])
    np.subtract(dout2 * cos, dout1 * sin, out=dx[..., half:])
    return dx, {}
