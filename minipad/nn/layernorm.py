"""Layer normalisation over the channel axis.

    mean = mean(x),  var = mean((x - mean)^2),  rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd
    out  = xhat * gain + bias

Two forms, the same maths (tests check that they agree in float64 and pass the gradient check):
  layernorm_forward_reference, layernorm_backward_reference   the formulas as written, for reading;
  layernorm_forward, layernorm_backward                        the fast form the model runs: rows in
                                                               cache-sized chunks, written into
                                                               preallocated arrays (see speed.py).
Both keep the same cache, so either backward accepts either forward's cache.
"""
from typing import NamedTuple

import numpy as np

from .speed import column_sums, row_chunks, row_dots, row_means, row_sums

EPS = 1e-5


class LayerNormCache(NamedTuple):
    """What the backward needs: x (already kept alive by the residual stream), two numbers per row and the
    gain. The normalised xhat is recomputed from them: one cheap pass instead of another (B,T,C) array."""
    x: np.ndarray     # (..., C)
    mean: np.ndarray  # x.shape[:-1], the mean of each row
    rstd: np.ndarray  # x.shape[:-1], 1 / sqrt(var + eps) of each row
    gain: np.ndarray  # (C,)


def layernorm_forward_reference(x, gain, bias, eps=EPS):
    """x (..., C), gain (C,), bias (C,) -> out (..., C): each row to mean 0 and variance 1, then scaled."""
    mean = x.mean(axis=-1, keepdims=True)                  # (...,1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)   # (...,1)
    rstd = 1.0 / np.sqrt(var + eps)                        # (...,1)
    xhat = (x - mean) * rstd                               # (...,C)
    out = xhat * gain + bias
    return out, LayerNormCache(x, mean[..., 0], rstd[..., 0], gain)


def layernorm_backward_reference(dout, cache):
    """dout (..., C) -> (dx (..., C), {"gain": (C,), "bias": (C,)}).

    x reaches xhat by three roads (directly, through the mean and through the variance); summing them and
    using mean(x - mean) = 0 leaves one line, exact with eps:
        dxhat = dout * gain
        dx    = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dgain = sum over rows of dout * xhat,   dbias = sum over rows of dout
    """
    x, mean, rstd, gain = cache
    mean, rstd = mean[..., None], rstd[..., None]          # (...,1)
    xhat = (x - mean) * rstd                               # recomputed, (...,C)
    rows = tuple(range(x.ndim - 1))                        # every axis but the channels
    # forward was: out = xhat * gain + bias
    dgain = (dout * xhat).sum(axis=rows)
    dbias = dout.sum(axis=rows)
    dxhat = dout * gain
    # forward was: xhat = (x - mean) * rstd, with mean and rstd functions of x
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, {"gain": dgain, "bias": dbias}


def layernorm_forward(x, gain, bias, eps=EPS):
    """The fast form of layernorm_forward_reference: x (..., C) -> out (..., C), same cache.

    Chunk by chunk of rows: mean as a product with 1/C, centre into the output array, the variance from
    the squares, then scale, gain and bias in place.
    """
    C = x.shape[-1]
    x_rows = x.reshape(-1, C)  # (N,C), N = B*T
    N = len(x_rows)
    out = np.empty_like(x_rows)  # (N,C)
    mean = np.empty(N, x.dtype)
    rstd = np.empty(N, x.dtype)
    for rows in row_chunks(N, C):
        centred = out[rows]  # a view: the chunk's output is the scratch space for the centred rows
        mean[rows] = row_means(x_rows[rows])
        np.subtract(x_rows[rows], mean[rows, None], out=centred)
        rstd[rows] = 1.0 / np.sqrt(row_dots(centred, centred) / C + eps)  # the mean of the squares
        centred *= rstd[rows, None]  # xhat
        centred *= gain
        centred += bias
    return out.reshape(x.shape), LayerNormCache(x, mean.reshape(x.shape[:-1]), rstd.reshape(x.shape[:-1]), gain)


def layernorm_backward(dout, cache):
    """The fast form of layernorm_backward_reference, chunk by chunk of rows, the same formulas:
    mean(dxhat * xhat) = mean(dout * xhat * gain) is a product of dout * xhat (which dgain needs anyway)
    with gain / C, so dxhat * xhat is never formed."""
    x, mean, rstd, gain = cache
    C = x.shape[-1]
    x_rows, dout_rows = x.reshape(-1, C), dout.reshape(-1, C)  # (N,C)
    mean, rstd = mean.reshape(-1), rstd.reshape(-1)  # (N,)
    N = len(x_rows)
    dx = np.empty_like(dout_rows)  # (N,C)
    dgain = np.zeros(C, x.dtype)
    dbias = np.zeros(C, x.dtype)
    gain_averager = gain / C  # (C,)
    # A chunk is worked on in five arrays (x, dout, dx, xhat, dout * xhat): half the rows of speed.py's
    # chunks keep them in a 2 MiB L2 cache (as in gelu.py): 1.05-1.10 times faster at C = 64, no change at 128.
    for rows in row_chunks(N, 2 * C):
        # recompute forward: xhat = (x - mean) * rstd
        xhat = x_rows[rows] - mean[rows, None]
        xhat *= rstd[rows, None]
        # forward was: out = xhat * gain + bias
        dout_chunk = dout_rows[rows]
        dbias += column_sums(dout_chunk)
        dout_xhat = dout_chunk * xhat
        dgain += column_sums(dout_xhat)
        # forward was: xhat = (x - mean) * rstd; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        mean_dxhat_xhat = row_sums(dout_xhat, gain_averager)  # (rows,)
        dx_chunk = dx[rows]
        np.multiply(dout_chunk, gain, out=dx_chunk)  # dxhat
        dx_chunk -= row_means(dx_chunk)[:, None]
        xhat *= mean_dxhat_xhat[:, None]
        dx_chunk -= xhat
        dx_chunk *= rstd[rows, None]
    return dx.reshape(x.shape), {"gain": dgain, "bias": dbias}
