"""Softmax over the last axis: p = exp(x - max x) / sum(exp(x - max x)).

Subtracting the row maximum changes nothing mathematically (softmax ignores a constant shift) and keeps
exp from overflowing. Attention and the loss use fused versions of this for speed; this is the reference.
"""
import numpy as np


def softmax_forward(x):
    """x (..., N) -> p (..., N), every row non-negative and summing to 1. Cache: p."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return p, p


def softmax_backward(dp, cache):
    """dx = p * (dp - sum(p * dp)) row by row (the Jacobian is diag(p) - p p^T).

    dp (..., N) -> (dx (..., N), {}).
    """
    p = cache
    # forward was: p = exp(x) / sum(exp(x))
    return p * (dp - (p * dp).sum(axis=-1, keepdims=True)), {}
