"""GELU activation, tanh approximation (as in GPT-2), the same formula in forward and backward.

    gelu(x)  = 0.5 * x * (1 + t),   t = tanh(k * (x + a * x^3)),   k = sqrt(2 / pi),  a = 0.044715
    gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2)

Two forms, the same maths (tests check that they agree in float64 and pass the gradient check):
  gelu_forward_reference, gelu_backward_reference   the formulas as written;
  gelu_forward, gelu_backward                        the fast form the model runs: cache-sized chunks of
                                                     rows, in place, and products rather than x**3 (on
                                                     float32 arrays that power takes a general path about
                                                     16 times slower).
The reference caches x and t: keeping the tanh saves recomputing it, the costliest part. The fast form
caches the slope gelu'(x) itself, computed in the forward while each chunk of x is in the CPU cache: its
backward is then one product, dout * gelu'(x), and x is not kept. Against caching x and t, forward and
backward together were 1.2 times faster (one core, (2928,256) and (2928,512) inputs).
"""
import math
from typing import NamedTuple

import numpy as np

from .speed import row_chunks

GELU_SCALE = math.sqrt(2.0 / math.pi)  # k; a Python float, so it keeps float32 arrays float32
GELU_CUBIC = 0.044715  # a


class GeluCache(NamedTuple):
    x: np.ndarray     # (..., D) the input
    tanh: np.ndarray  # (..., D) t = tanh(k (x + a x^3))


def gelu_forward_reference(x):
    """x (..., D) -> gelu(x) (..., D), usually (B,T,4C)."""
    t = np.tanh(GELU_SCALE * (x + GELU_CUBIC * x ** 3))
    return 0.5 * x * (1.0 + t), GeluCache(x, t)


def gelu_backward_reference(dout, cache):
    """dout (..., D) -> (dx = dout * gelu'(x), {}), by the product rule and tanh' = 1 - tanh^2."""
    x, t = cache
    # forward was: out = 0.5 * x * (1 + t), t = tanh(k * (x + a x^3))
    derivative = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x ** 2)
    return dout * derivative, {}


class GeluSlopeCache(NamedTuple):
    slope: np.ndarray  # (..., D) gelu'(x) at each input


def gelu_forward(x):
    """The fast form of gelu_forward_reference: x (..., D) -> (gelu(x) (..., D), GeluSlopeCache).

    Per chunk, with s = x^2 and h = 0.5 (1 + t):
        t        = tanh(x (k + k a s))
        out      = h x
        gelu'(x) = h + 0.5 x (1 - t^2) k (1 + 3 a s) = h + (1 - h) w,   w = 2 out (k + 3 k a s)
    using 1 - t^2 = (1 - t)(1 + t) = 4 h (1 - h) and h x = out.
    """
    D = x.shape[-1]
    x_rows = x.reshape(-1, D)  # (N,D)
    out = np.empty_like(x_rows)
    slope = np.empty_like(x_rows)
    # A chunk is worked on in five arrays (x, out, slope and two of scratch), so it takes half the rows
    # speed.py's chunks would: its five pieces then fit in a 2 MiB L2 cache. GELU's forward was 1.05-1.08
    # times faster than with full chunks (half a batch, one core, caches cold as in a training step).
    chunks = row_chunks(len(x_rows), 2 * D)
    chunk_rows = chunks[0].stop if chunks else 0  # the first chunk is the largest
    scratch = np.empty((2, chunk_rows, D), x.dtype)  # two chunks of scratch space, reused by every chunk
    for rows in chunks:
        x_chunk, out_chunk, slope_chunk = x_rows[rows], out[rows], slope[rows]
        h, one_minus_h = scratch[:, :len(x_chunk)]
        np.multiply(x_chunk, x_chunk, out=slope_chunk)  # s
        np.multiply(slope_chunk, GELU_SCALE * GELU_CUBIC, out=h)
        h += GELU_SCALE
        h *= x_chunk  # k (x + a x^3)
        np.tanh(h, out=h)  # t
        h *= 0.5
        h += 0.5  # h = 0.5 (1 + t)
        np.multiply(h, x_chunk, out=out_chunk)  # gelu(x) = h x
        slope_chunk *= 6.0 * GELU_SCALE * GELU_CUBIC
        slope_chunk += 2.0 * GELU_SCALE
        slope_chunk *= out_chunk  # w = 2 out (k + 3 k a s)
        # gelu'(x) = h + (1 - h) w, in this order: as w + h (1 - w), 1 - w would round to -w for x > 428 in float32
        np.subtract(1.0, h, out=one_minus_h)
        one_minus_h *= slope_chunk
        np.add(h, one_minus_h, out=slope_chunk)
    return out.reshape(x.shape), GeluSlopeCache(slope.reshape(x.shape))


def gelu_backward(dout, cache):
    """The fast form of gelu_backward_reference: dout (..., D) -> (dx = dout * gelu'(x), {})."""
    # forward was: out = gelu(x), with gelu'(x) computed there
    return dout * cache.slope, {}
