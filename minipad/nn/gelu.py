"""GELU activation, tanh approximation (as in GPT-2), the same formula in forward and backward.

    gelu(x)  = 0.5 * x * (1 + t),   t = tanh(k * (x + a * x^3)),   k = sqrt(2 / pi),  a = 0.044715
    gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2)

Two forms, the same maths (tests check that they agree in float64 and pass the gradient check):
  gelu_forward_reference, gelu_backward_reference   the formulas as written;
  gelu_forward, gelu_backward                        the fast form the model runs: cache-sized chunks of
                                                     rows, in place, and x*x*x rather than x**3 (on float32
                                                     arrays the power takes a general path about 16 times
                                                     slower).
Both cache x and t: keeping the tanh saves recomputing it, the costliest part.
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


def gelu_forward(x):
    """The fast form of gelu_forward_reference: x (..., D) -> gelu(x) (..., D), the same cache.

    Per chunk: t = tanh(x * (k + k a x^2)), out = 0.5 x + 0.5 x t.
    """
    D = x.shape[-1]
    x_rows = x.reshape(-1, D)  # (N,D)
    out = np.empty_like(x_rows)
    tanh = np.empty_like(x_rows)
    for rows in row_chunks(len(x_rows), D):
        x_chunk, t, half_x = x_rows[rows], tanh[rows], out[rows]
        np.multiply(x_chunk, x_chunk, out=t)
        t *= GELU_SCALE * GELU_CUBIC
        t += GELU_SCALE
        t *= x_chunk  # k (x + a x^3)
        np.tanh(t, out=t)
        np.multiply(x_chunk, 0.5, out=half_x)
        half_x += half_x * t  # 0.5 x (1 + t)
    return out.reshape(x.shape), GeluCache(x, tanh.reshape(x.shape))


def gelu_backward(dout, cache):
    """The fast form of gelu_backward_reference: dout (..., D) -> (dx (..., D), {}), chunk by chunk."""
    x, tanh = cache
    D = x.shape[-1]
    x_rows, tanh_rows, dout_rows = x.reshape(-1, D), tanh.reshape(-1, D), dout.reshape(-1, D)
    dx = np.empty_like(dout_rows)
    for rows in row_chunks(len(x_rows), D):
        x_chunk, t, derivative = x_rows[rows], tanh_rows[rows], dx[rows]
        # forward was: out = 0.5 * x * (1 + t), t = tanh(u), u = k * (x + a x^3)
        du_dx = x_chunk * x_chunk
        du_dx *= 3.0 * GELU_CUBIC * GELU_SCALE
        du_dx += GELU_SCALE  # k (1 + 3 a x^2)
        np.multiply(t, t, out=derivative)
        np.subtract(1.0, derivative, out=derivative)  # 1 - t^2 = tanh'(u)
        derivative *= x_chunk
        derivative *= du_dx
        derivative += t
        derivative += 1.0
        derivative *= 0.5  # gelu'(x)
        derivative *= dout_rows[rows]
    return dx.reshape(x.shape), {}
