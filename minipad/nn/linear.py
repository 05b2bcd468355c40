"""Linear layer: out = x @ weight + bias.

The weight is stored (IN, OUT), so the forward is a plain product with no transpose.
"""
from typing import NamedTuple

import numpy as np

from .speed import column_sums


class LinearCache(NamedTuple):
    x: np.ndarray       # (..., IN): the weight gradient needs it
    weight: np.ndarray  # (IN, OUT): the input gradient needs it
    has_bias: bool


def linear_forward(x, weight, bias=None):
    """out = x @ weight + bias.

    x (..., IN), weight (IN, OUT), bias (OUT,) or None -> out (..., OUT); usually (B,T,C) -> (B,T,OUT).
    """
    x_rows = x.reshape(-1, x.shape[-1])  # (N,IN), N = B*T
    out = x_rows @ weight  # (N,OUT)
    if bias is not None:
        out += bias
    return out.reshape(*x.shape[:-1], weight.shape[1]), LinearCache(x, weight, bias is not None)


def linear_backward(dout, cache):
    """Gradients of linear_forward: dx = dout @ weight^T, dweight = x^T @ dout, dbias = sum of dout rows.

    dout (..., OUT) -> (dx (..., IN), {"weight": (IN,OUT), "bias": (OUT,)}); no "bias" if the forward had none.
    """
    x, weight, has_bias = cache
    x_rows = x.reshape(-1, x.shape[-1])  # (N,IN)
    dout_rows = dout.reshape(-1, dout.shape[-1])  # (N,OUT)
    # forward was: out = x @ weight
    dx = dout_rows @ weight.T  # (N,IN)
    grads = {"weight": x_rows.T @ dout_rows}  # (IN,OUT)
    if has_bias:
        # forward was: out += bias, the same bias added to every row
        grads["bias"] = column_sums(dout_rows)  # (OUT,)
    return dx.reshape(x.shape), grads
