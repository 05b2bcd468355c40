"""Layer normalisation over the channel axis.

    mean = mean(x),  var = mean((x - mean)^2),  rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd
    out  = xhat * gain + bias
"""
import numpy as np

EPS = 1e-5


def layernorm_forward(x, gain, bias, eps=EPS):
    """Normalise each row of x to zero mean and unit variance, then scale by gain and shift by bias.

    x (..., C), gain (C,), bias (C,) -> out (..., C); usually (B,T,C).
    Cache: x (already kept alive by the residual stream), mean and rstd per row, and gain. The normalised
    xhat is recomputed in the backward from these: one cheap pass instead of storing another (B,T,C) tensor.
    Row means are products with a vector of 1/C, which BLAS does faster than x.mean(axis=-1).
    """
    C = x.shape[-1]
    x_rows = x.reshape(-1, C)  # (N,C), N = B*T
    averager = np.full(C, 1.0 / C, x.dtype)  # (C,)
    mean = x_rows @ averager  # (N,)
    xhat = x_rows - mean[:, None]  # (N,C), centred for now
    out = np.square(xhat)  # (N,C), scratch space for the squares, reused for the output below
    var = out @ averager  # (N,)
    rstd = 1.0 / np.sqrt(var + eps)  # (N,)
    xhat *= rstd[:, None]
    np.multiply(xhat, gain, out=out)
    out += bias
    return out.reshape(x.shape), (x, mean, rstd, gain)


def layernorm_backward(dout, cache):
    """Gradients of layernorm_forward.

    With dxhat = dout * gain and row means written mean(.):
        dx    = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dgain = sum over rows of dout * xhat,   dbias = sum over rows of dout
    dout (..., C) -> (dx (..., C), {"gain": (C,), "bias": (C,)}).
    """
    x, mean, rstd, gain = cache
    C = x.shape[-1]
    x_rows = x.reshape(-1, C)  # (N,C)
    dout_rows = dout.reshape(-1, C)  # (N,C)
    ones = np.ones(len(x_rows), x.dtype)  # (N,)
    averager = np.full(C, 1.0 / C, x.dtype)  # (C,)
    # recompute forward: xhat = (x - mean) * rstd
    xhat = x_rows - mean[:, None]
    xhat *= rstd[:, None]
    # forward was: out = xhat * gain + bias
    dbias = ones @ dout_rows  # (C,)
    dout_xhat = dout_rows * xhat  # (N,C)
    dgain = ones @ dout_xhat  # (C,)
    dxhat = dout_rows * gain  # (N,C)
    # forward was: xhat = (x - mean) * rstd, with mean and rstd functions of x; dxhat * xhat = dout_xhat * gain
    mean_dxhat = dxhat @ averager  # (N,)
    mean_dxhat_xhat = (dout_xhat @ (gain * averager))  # (N,)
    dx = dxhat
    dx -= mean_dxhat[:, None]
    xhat *= mean_dxhat_xhat[:, None]
    dx -= xhat
    dx *= rstd[:, None]
    return dx.reshape(x.shape), {"gain": dgain, "bias": dbias}
