"""Output head: logits = x @ weight^T, weight (V,C) shaped like the token embedding so it can be tied to it."""
from typing import NamedTuple

import numpy as np


class HeadCache(NamedTuple):
    x: np.ndarray       # (B,T,C)
    weight: np.ndarray  # (V,C)


def head_forward(x, weight):
    """x (B,T,C), weight (V,C) -> logits (B,T,V)."""
    return x @ weight.T, HeadCache(x, weight)


def head_backward(dlogits, cache):
    """dlogits (B,T,V) -> (dx (B,T,C), {"weight": (V,C)})."""
    x, weight = cache
    C, V = x.shape[-1], weight.shape[0]
    # forward was: logits = x @ weight^T
    dx = dlogits @ weight  # (B,T,C)
    dweight = dlogits.reshape(-1, V).T @ x.reshape(-1, C)  # (V,C)
    return dx, {"weight": dweight}
