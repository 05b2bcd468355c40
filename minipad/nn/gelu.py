"""GELU activation, tanh approximation (as in GPT-2), the same formula in forward and backward.

    gelu(x) = 0.5 * x * (1 + tanh(k * (x + a * x^3))),   k = sqrt(2 / pi),  a = 0.044715
"""
import math

import numpy as np

GELU_SCALE = math.sqrt(2.0 / math.pi)  # k; a Python float, so it keeps float32 arrays float32
GELU_CUBIC = 0.044715  # a


def gelu_forward(x):
    """x (..., D) -> gelu(x) (..., D), usually (B,T,4C).

    Cache: x and tanh(k * (x + a x^3)); keeping the tanh saves recomputing it, the costliest part.
    x*x*x rather than x**3: on float32 arrays the power takes a general path about 16 times slower.
    """
    tanh_inner = x * x * x  # (...,D)
    tanh_inner *= GELU_CUBIC
    tanh_inner += x
    tanh_inner *= GELU_SCALE
    np.tanh(tanh_inner, out=tanh_inner)
    out = tanh_inner + 1.0
    out *= x
    out *= 0.5
    return out, (x, tanh_inner)


def gelu_backward(dout, cache):
    """dx = dout * gelu'(x), with t = tanh(k (x + a x^3)):

        gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2)

    dout (..., D) -> (dx (..., D), {}).
    """
    x, tanh_inner = cache
    # forward was: out = 0.5 * x * (1 + t), t = tanh(u), u = k * (x + a x^3)
    du_dx = x * x  # (...,D)
    du_dx *= 3.0 * GELU_CUBIC * GELU_SCALE
    du_dx += GELU_SCALE
    sech2 = tanh_inner * tanh_inner  # t^2, then 1 - t^2 = tanh'(u)
    np.subtract(1.0, sech2, out=sech2)
    sech2 *= x
    sech2 *= du_dx  # x (1 - t^2) du/dx
    sech2 += tanh_inner
    sech2 += 1.0
    sech2 *= 0.5  # gelu'(x)
    sech2 *= dout
    return sech2, {}
