"""Embedding lookup: out = weight[ids], used for tokens, learned positions, digit places and roles."""
from typing import NamedTuple

import numpy as np


class EmbeddingCache(NamedTuple):
    ids: np.ndarray  # any shape S of integer ids
    shape: tuple     # the table's (V,C)


def embedding_forward(ids, weight):
    """Row lookup. ids: integer array of any shape S, weight (V,C) -> out S + (C,); tokens (B,T) -> (B,T,C)."""
    return weight[ids], EmbeddingCache(ids, weight.shape)


def embedding_backward(dout, cache):
    """dweight[v] = sum of dout over the positions whose id is v.

    Written as onehot(ids)^T @ dout: one matrix product, much faster than np.add.at or np.bincount
    (about 0.3-0.5 ms against 6-13 ms and 1-2 ms for a default batch). The (V,N) matrix onehot(ids)^T is
    built by writing a 1 at (ids[n], n) into zeros: one pass, where comparing every id with every row
    index and converting the booleans took two over (N,V): on a half batch (2928 tokens, C = 64) the
    backward was 1.7 times faster for the tokens (V = 111) and 2.2 times for the digit places (V = 33).
    dout S + (C,) -> (None, {"weight": (V,C)}); ids are not differentiable.
    """
    ids, (V, C) = cache
    flat_ids = ids.reshape(-1)  # (N,)
    # forward was: out = weight[ids] = onehot(ids) @ weight
    onehot_transposed = np.zeros((V, len(flat_ids)), dout.dtype)  # (V,N)
    onehot_transposed[flat_ids, np.arange(len(flat_ids))] = 1.0
    dweight = onehot_transposed @ dout.reshape(-1, C)  # (V,C)
    return None, {"weight": dweight}
