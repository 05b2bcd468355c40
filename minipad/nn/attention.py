"""Causal multi-head self-attention (without its input and output projections, which are linear layers).

For each of the NH heads, with q, k, v its (T,HS) slices of the projected input:
    scores = q @ k^T / sqrt(HS) + mask      mask is 0 where key <= query and -inf above the diagonal
    att    = softmax(scores)                 row t weighs the positions 0..t
    y      = att @ v
and the heads' y are laid side by side again. With RoPE, q and k are rotated by their positions first.

Speed: everything runs on (B,NH,T,T) stacks at once. The softmax is done as e = exp(scores - rowmax),
y = (e @ v) / rowsum(e): dividing the (T,HS) result costs less than dividing the (T,T) scores.
"""
import functools
import math

import numpy as np

from .rope import rope_backward, rope_forward


@functools.lru_cache(maxsize=64)
def causal_bias(T, dtype):
    """(T,T) read-only matrix: 0 on and below the diagonal, -inf above (a query never sees later keys)."""
    bias = np.triu(np.full((T, T), -np.inf, dtype=dtype), k=1)
    bias.setflags(write=False)
    return bias


def split_heads(qkv, n_head):
    """(B,T,3C) -> q, k, v, each a contiguous (B,NH,T,HS) array."""
    B, T, C3 = qkv.shape
    head_size = C3 // (3 * n_head)
    stacked = qkv.reshape(B, T, 3, n_head, head_size).transpose(2, 0, 3, 1, 4)  # (3,B,NH,T,HS)
    q, k, v = np.ascontiguousarray(stacked)
    return q, k, v


def merge_heads(y):
    """(B,NH,T,HS) -> (B,T,C): the heads' outputs side by side."""
    B, NH, T, HS = y.shape
    return y.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)


def attention_forward(qkv, n_head, rope=None, bias=None):
    """qkv (B,T,3C) -> out (B,T,C). rope: None or (cos, sin) from rope_tables, (T,HS/2) or (B,T,HS/2).

    bias: None for the causal mask, or an additive (B,1,T,T) mask to use instead (0 where a query may see a
    key, -inf elsewhere; it must hide later keys and leave every query at least itself).

    Cache: the scaled and rotated q, k; v; e = exp(scores - rowmax) (B,NH,T,T); rowsum (B,NH,T,1); y.
    """
    q, k, v = split_heads(qkv, n_head)  # (B,NH,T,HS) each
    B, NH, T, HS = q.shape
    rope_cache = None
    if rope is not None:
        cos, sin = rope
        if cos.ndim == 3:  # one row of positions per sequence: (B,T,HS/2) -> (B,1,T,HS/2), same for all heads
            cos, sin = cos[:, None], sin[:, None]
        q, rope_cache = rope_forward(q, cos, sin)
        k, _ = rope_forward(k, cos, sin)
    q *= 1.0 / math.sqrt(HS)  # scale q (T,HS) rather than the scores (T,T); a Python float keeps float32
    scores = q @ k.swapaxes(-1, -2)  # (B,NH,T,T)
    scores += causal_bias(T, scores.dtype) if bias is None else bias
    scores -= scores.max(axis=-1, keepdims=True)
    e = np.exp(scores, out=scores)  # (B,NH,T,T), e = att * rowsum
    # row sums as a product with a ones vector: about 4 times faster than e.sum(axis=-1) here
    rowsum = (e @ np.ones(T, e.dtype))[..., None]  # (B,NH,T,1)
    y = e @ v  # (B,NH,T,HS)
    y /= rowsum
    return merge_heads(y), (q, k, v, e, rowsum, y, rope_cache)


def attention_probabilities(cache):
    """The attention weights att = softmax(scores) (B,NH,T,T) from an attention_forward cache."""
    q, k, v, e, rowsum, y, rope_cache = cache
    return e / rowsum


def attention_backward(dout, cache):
    """dout (B,T,C) -> (dqkv (B,T,3C), {}).

    With att = e / rowsum and y = att @ v:
        dv      = att^T @ dy
        datt    = dy @ v^T
        dscores = att * (datt - sum_j att * datt),  and sum_j att[i,j] datt[i,j] = sum_d dy[i,d] y[i,d]
    so the row sums come from the small (T,HS) tensors, and with dy_scaled = dy / rowsum
        dscores = e * (dy_scaled @ v^T - sum_d dy_scaled * y)
    """
    q, k, v, e, rowsum, y, rope_cache = cache
    B, NH, T, HS = q.shape
    dy = dout.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)  # (B,NH,T,HS), forward was: out = merge_heads(y)
    dy_scaled = dy / rowsum  # (B,NH,T,HS)
    # forward was: y = (e @ v) / rowsum. dv = e^T @ dy_scaled, computed transposed (faster for BLAS here)
    dv = (dy_scaled.swapaxes(-1, -2) @ e).swapaxes(-1, -2)  # (B,NH,T,HS)
    dscores = dy_scaled @ v.swapaxes(-1, -2)  # (B,NH,T,T)
    # forward was: e = exp(scores - rowmax) and att = e / rowsum (the softmax); rowmax is a constant shift
    dscores -= ((dy_scaled * y) @ np.ones(HS, y.dtype))[..., None]  # sum over d, as a product with ones
    dscores *= e  # zero above the diagonal, where e is 0: the mask passes no gradient
    # forward was: scores = q @ k^T (q already scaled by 1/sqrt(HS))
    dq = dscores @ k  # (B,NH,T,HS)
    dk = (q.swapaxes(-1, -2) @ dscores).swapaxes(-1, -2)  # (B,NH,T,HS), dscores^T @ q
    # forward was: q *= 1/sqrt(HS)
    dq *= 1.0 / math.sqrt(HS)
    if rope_cache is not None:
        # forward was: q, k = rope(q), rope(k)
        dq, _ = rope_backward(dq, rope_cache)
        dk, _ = rope_backward(dk, rope_cache)
    # forward was: q, k, v = split_heads(qkv)
    dqkv = np.empty((B, T, 3, NH, HS), dout.dtype)
    for index, dpart in enumerate((dq, dk, dv)):
        dqkv[:, :, index] = dpart.swapaxes(1, 2)  # (B,NH,T,HS) -> (B,T,NH,HS)
    return dqkv.reshape(B, T, 3 * NH * HS), {}
