"""Multi-head self-attention with a mask (without its input and output projections, which are linear layers).

For each of the NH heads, with q, k, v its (T,HS) slices of the projected input:
    scores = q @ k^T / sqrt(HS) + bias      bias is 0 where a query may see a key, -inf elsewhere (mask.py):
                                            at least every later key is hidden (causal attention)
    att    = softmax(scores)                row t weighs the keys it may see
    y      = att @ v
and the heads' y are laid side by side again. With RoPE, q and k are rotated by their positions first.

Two forms, the same maths (tests check that they agree in float64 and pass the gradient check):
  attention_forward_reference, attention_backward_reference   the lines above, on whole (B,NH,T,T) arrays;
  attention_forward, attention_backward                        the fast form the model runs:
    - queries in blocks of rows (mask.py): each block scores only the keys some query of it may see, so the
      causal upper half (and, with a line window or packed problems, most of the rest) is never computed;
    - softmax as e = exp(scores - shift), y = (e @ v) / rowsum(e): dividing the (T,HS) result costs less
      than dividing the (T,T) scores, and the backward gets its row sums from (T,HS) arrays too;
    - the shift of each row (softmax ignores it; it only keeps exp in range) is the query's score with its
      own key rather than the row maximum: every query sees itself, so exp(0) = 1 is in its row sum, which
      can never underflow to 0, and the (B,NH,T,T) pass of the row maximum (43% of the forward's time on
      the default model) is saved. If that shift fails (a key scoring more than about 44 above the query's
      own, or a mask hiding a query from itself while the keys it sees score far below its own) the row
      sums show it and the layer is recomputed with the row maximum;
    - with RoPE, q and k are rotated as complex numbers (rope.py) straight out of qkv's layout, q's rotation
      scaled by 1/sqrt(HS): the split into heads, the rotation and the scaling in one pass; and each
      block's e @ v is written straight into a (B,T,NH,HS) array, so merging the heads copies nothing;
    - while decoding, a KeyValueCache: the new queries attend to every key computed so far, so each token
      runs through the model once (minipad/generate.py).
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .mask import causal_mask
from .rope import RopeCache, rope_backward_reference, rope_forward_reference, rotate, rotation
from .softmax import softmax_backward, softmax_forward
from .speed import row_dots, row_sums


def head_parts(qkv, n_head):
    """(B,T,3C) -> (3,B,NH,T,HS), a view: q, k, v, each split into its heads (no copy)."""
    B, T, C3 = qkv.shape
    return qkv.reshape(B, T, 3, n_head, C3 // (3 * n_head)).transpose(2, 0, 3, 1, 4)


def split_heads(qkv, n_head):
    """(B,T,3C) -> q, k, v, each a contiguous (B,NH,T,HS) array."""
    q, k, v = np.ascontiguousarray(head_parts(qkv, n_head))
    return q, k, v


def merge_heads(y):
    """(B,NH,T,HS) -> (B,T,C): the heads' outputs side by side (a view if y is one of a (B,T,NH,HS) array)."""
    B, NH, T, HS = y.shape
    return y.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)


def join_heads(dq, dk, dv):
    """The inverse of split_heads: three (B,NH,T,HS) arrays -> (B,T,3C)."""
    B, NH, T, HS = dq.shape
    joined = np.empty((B, T, 3, NH, HS), dq.dtype)
    for index, part in enumerate((dq, dk, dv)):
        joined[:, :, index] = part.swapaxes(1, 2)  # (B,NH,T,HS) -> (B,T,NH,HS)
    return joined.reshape(B, T, 3 * NH * HS)


def _heads(dout, n_head):
    """(B,T,C) -> (B,NH,T,HS), a view: the gradient of merge_heads."""
    B, T, C = dout.shape
    return dout.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


# ------------------------------------------------------------------------------------------ reference
class AttentionReferenceCache(NamedTuple):
    q: np.ndarray    # (B,NH,T,HS), rotated when RoPE is on
    k: np.ndarray    # (B,NH,T,HS), rotated when RoPE is on
    v: np.ndarray    # (B,NH,T,HS)
    att: np.ndarray  # (B,NH,T,T) the attention weights, each row summing to 1
    rope: RopeCache | None


def attention_forward_reference(qkv, n_head, rope=None, bias=None):
    """qkv (B,T,3C) -> out (B,T,C).

    rope: None, or (cos, sin) from rope_tables, (T,HS/2) or (B,T,HS/2).
    bias: None for causal attention, or an additive (T,T) or (B,1,T,T) mask (0 where a query may see a key,
    -inf elsewhere; every query must see at least one key).
    """
    q, k, v = split_heads(qkv, n_head)  # (B,NH,T,HS) each
    rope_cache = None
    if rope is not None:
        q, rope_cache = rope_forward_reference(q, *rope)
        k, _ = rope_forward_reference(k, *rope)
    T, HS = q.shape[-2:]
    if bias is None:
        bias = causal_mask(T, q.dtype).bias  # (T,T): -inf above the diagonal
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(HS) + bias  # (B,NH,T,T)
    att, _ = softmax_forward(scores)  # (B,NH,T,T)
    y = att @ v  # (B,NH,T,HS)
    return merge_heads(y), AttentionReferenceCache(q, k, v, att, rope_cache)


def attention_backward_reference(dout, cache):
    """dout (B,T,C) -> (dqkv (B,T,3C), {}). Each step reverses one forward line."""
    q, k, v, att, rope_cache = cache
    HS = q.shape[-1]
    dy = _heads(dout, q.shape[1])  # (B,NH,T,HS), forward was: out = merge_heads(y)
    # forward was: y = att @ v
    datt = dy @ v.swapaxes(-1, -2)  # (B,NH,T,T)
    dv = att.swapaxes(-1, -2) @ dy  # (B,NH,T,HS)
    # forward was: att = softmax(scores); a hidden key has att = 0, so it gets no gradient
    dscores, _ = softmax_backward(datt, att)
    # forward was: scores = q @ k^T / sqrt(HS) + bias (the bias is a constant)
    dq = dscores @ k / math.sqrt(HS)
    dk = dscores.swapaxes(-1, -2) @ q / math.sqrt(HS)
    if rope_cache is not None:
        # forward was: q, k = rope(q), rope(k)
        dq, _ = rope_backward_reference(dq, rope_cache)
        dk, _ = rope_backward_reference(dk, rope_cache)
    # forward was: q, k, v = split_heads(qkv)
    return join_heads(dq, dk, dv), {}


# ------------------------------------------------------------------------------------------ fast form
@dataclass
class KeyValueCache:
    """One layer's keys and values of every column decoded so far; minipad/generate.py keeps one per layer.

    attention_forward(..., kv=cache) writes the new columns' keys and values at column `length` and on,
    advances `length`, and lets the new queries attend to every column up to there.
    """
    keys: np.ndarray    # (B,NH,max_length,HS), already rotated when RoPE is on
    values: np.ndarray  # (B,NH,max_length,HS)
    length: int = 0     # columns filled so far

    def append(self, k, v):
        """Write k, v (B,NH,Tn,HS) as the next Tn columns; returns all keys and values so far (views)."""
        first, last = self.length, self.length + k.shape[2]
        if last > self.keys.shape[2]:
            raise ValueError(f"the cache holds {self.keys.shape[2]} columns; {last} needed")
        self.keys[:, :, first:last] = k
        self.values[:, :, first:last] = v
        self.length = last
        return self.keys[:, :, :last], self.values[:, :, :last]

    def keep_rows(self, rows):
        """Keep only the given rows (integer indices) of the batch, e.g. the rows still decoding."""
        self.keys, self.values = self.keys[rows], self.values[rows]


class AttentionCache(NamedTuple):
    q: np.ndarray        # (B,NH,T,HS), rotated and scaled by 1/sqrt(HS)
    k: np.ndarray        # (B,NH,L,HS), rotated; L = T while training
    v: np.ndarray        # (B,NH,L,HS)
    weights: list        # per block of queries, e = exp(scores - shift) (B,NH,Q,K) = att * rowsum
    rowsum: np.ndarray   # (B,NH,T,1) the sum of e over each query's keys
    y: np.ndarray        # (B,NH,T,HS) the output before merging the heads
    blocks: tuple        # the mask's KeyRange of each block
    turn: np.ndarray | None  # with RoPE, q's and k's rotations as complex numbers (2,...,T,HS/2) (rope.py),
                             # q's scaled by 1/sqrt(HS); None without RoPE


# The largest row sum of e = exp(scores - shift) accepted: with rows of at most a few thousand keys, e @ v
# stays far from float32's overflow (3.4e38) unless v is absurd. exp(0) of the query's own key makes a row sum
# at least 1 whenever the query sees itself.
SHIFT_LIMIT = 2.0 ** 64


def _softmax_times_values(q, k, v, mask, shift):
    """Block by block of queries: e = exp(scores + bias - shift) over the block's keys, e @ v, and row sums.

    shift (B,NH,T,1), or None for each row's maximum. -> (weights: list of e (B,NH,Q,K), y (B,NH,T,HS)
    unnormalised, rowsum (B,NH,T,1)). y is a view of a (B,T,NH,HS) array, the heads side by side as the
    output projection reads them, so that merging the heads afterwards costs no copy.
    """
    B, NH, T, HS = q.shape
    y = np.empty((B, T, NH, HS), q.dtype).transpose(0, 2, 1, 3)  # (B,NH,T,HS), a view
    rowsum = np.empty((B, NH, T, 1), q.dtype)
    weights = []
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the row sums; the caller redoes it
        for block in mask.blocks:
            queries, keys = slice(block.query_start, block.query_end), slice(block.key_start, block.key_end)
            e = q[:, :, queries] @ k[:, :, keys].swapaxes(-1, -2)  # (B,NH,Q,K), the block's scores
            e += mask.bias[..., queries, keys]
            e -= e.max(axis=-1, keepdims=True) if shift is None else shift[:, :, queries]
            np.exp(e, out=e)  # e = att * rowsum
            rowsum[:, :, queries, 0] = row_sums(e)
            np.matmul(e, v[:, :, keys], out=y[:, :, queries])  # straight into y's rows, no temporary
            weights.append(e)
    return weights, y, rowsum


def attention_forward(qkv, n_head, rope=None, mask=None, kv=None):
    """The fast form of attention_forward_reference: qkv (B,T,3C) -> out (B,T,C).

    rope: as for the reference. mask: an AttentionMask (mask.py), or None for causal attention.
    kv: None while training; while decoding, this layer's KeyValueCache, which receives the new keys and
    values (the mask then spans all the cache's columns, (T,L) or (B,1,T,L)). No backward through a cache.
    """
    parts = head_parts(qkv, n_head)  # (3,B,NH,T,HS), a view of qkv
    HS = parts.shape[-1]
    turn = None
    if rope is None:
        q, k = np.ascontiguousarray(parts[:2])  # (B,NH,T,HS) each
        q *= 1.0 / math.sqrt(HS)  # scale q (T,HS) rather than the scores (T,T); a Python float keeps float32
    else:
        # q and k rotated in one multiplication straight out of qkv's layout into their own, q's rotation
        # also scaled by 1/sqrt(HS) (rather than the scores (T,T)): the copy, the rotation and the scaling
        # in a single pass
        turn = rotation(*rope)  # (T,HS/2) or (B,1,T,HS/2)
        turn = turn * np.array([1.0 / math.sqrt(HS), 1.0], turn.dtype).reshape((2,) + (1,) * 4)  # (2,...)
        q, k = rotate(parts[:2], turn)  # (B,NH,T,HS) each
    v = np.ascontiguousarray(parts[2])  # (B,NH,T,HS)
    B, NH, T, HS = q.shape
    if kv is not None:
        k, v = kv.append(k, v)  # (B,NH,L,HS): every column so far
    if mask is None:
        mask = causal_mask(T, q.dtype, past=k.shape[2] - T)
    own_scores = row_dots(q, k[:, :, k.shape[2] - T:])[..., None]  # (B,NH,T,1): q_t . k_t, query t's own key
    weights, y, rowsum = _softmax_times_values(q, k, v, mask, own_scores)
    if rowsum.size and not (rowsum.min() >= 0.5 and rowsum.max() <= SHIFT_LIMIT):  # rare: shift by the row maxima
        weights = y = rowsum = None  # free the first attempt before the second is built
        weights, y, rowsum = _softmax_times_values(q, k, v, mask, None)
    y /= rowsum
    return merge_heads(y), AttentionCache(q, k, v, weights, rowsum, y, mask.blocks, turn)


def attention_backward(dout, cache):
    """The fast form of attention_backward_reference: dout (B,T,C) -> (dqkv (B,T,3C), {}).

    With att = e / rowsum and y = att @ v:
        dv      = att^T @ dy
        datt    = dy @ v^T
        dscores = att * (datt - sum_j att * datt),  and sum_j att[i,j] datt[i,j] = sum_d dy[i,d] y[i,d]
    so the row sums come from the small (T,HS) tensors, and with dy_scaled = dy / rowsum
        dscores = e * (dy_scaled @ v^T - sum_d dy_scaled * y)
    block by block of queries, over each block's keys only.
    """
    q, k, v, weights, rowsum, y, blocks, turn = cache
    B, NH, T, HS = q.shape
    if k.shape[2] != T:
        raise ValueError("attention_backward: no gradient through a key/value cache (it is for decoding)")
    dy = _heads(dout, NH)  # (B,NH,T,HS), forward was: out = merge_heads(y)
    # forward was: y = (e @ v) / rowsum
    dy_scaled = dy / rowsum  # (B,NH,T,HS)
    # forward was: e = exp(scores - shift), att = e / rowsum (the softmax); the shift is a constant
    rowdot = row_dots(dy_scaled, y)[..., None]  # (B,NH,T,1), sum over d of dy_scaled * y
    dheads = np.zeros((3, B, NH, T, HS), q.dtype)  # dq, dk, dv, as head_parts lays out q, k, v
    dq, dk, dv = dheads
    for block, e in zip(blocks, weights):
        queries, keys = slice(block.query_start, block.query_end), slice(block.key_start, block.key_end)
        dy_block = dy_scaled[:, :, queries]  # (B,NH,Q,HS)
        dv[:, :, keys] += e.swapaxes(-1, -2) @ dy_block  # dv = e^T @ dy_scaled
        dscores = dy_block @ v[:, :, keys].swapaxes(-1, -2)  # (B,NH,Q,K)
        dscores -= rowdot[:, :, queries]
        dscores *= e  # zero where a key is hidden (e = 0): the mask passes no gradient
        # forward was: scores = q @ k^T (q already scaled by 1/sqrt(HS))
        np.matmul(dscores, k[:, :, keys], out=dq[:, :, queries])  # straight into dq's rows, no temporary
        dk[:, :, keys] += dscores.swapaxes(-1, -2) @ q[:, :, queries]
    # the last steps write straight into dqkv's layout
    dqkv = np.empty((B, T, 3, NH, HS), q.dtype)
    dqkv_heads = dqkv.transpose(2, 0, 3, 1, 4)  # (3,B,NH,T,HS), a view: the inverse of the forward's parts
    if turn is None:
        # forward was: q, k = copies of qkv's parts, q *= 1/sqrt(HS)
        dq *= 1.0 / math.sqrt(HS)
        dqkv_heads[:2] = dheads[:2]
    else:
        # forward was: q, k = rotate(parts, turn), a multiplication by a complex number: back by its conjugate
        rotate(dheads[:2], np.conj(turn), out=dqkv_heads[:2])
    dqkv_heads[2] = dv
    return dqkv.reshape(B, T, 3 * NH * HS), {}


def attention_probabilities(cache):
    """The attention weights att = softmax(scores) (B,NH,T,L), each row summing to 1, from the cache of
    either form (zero for the keys a query may not see)."""
    if isinstance(cache, AttentionReferenceCache):
        return cache.att
    B, NH, T, _ = cache.q.shape
    att = np.zeros((B, NH, T, cache.k.shape[2]), cache.q.dtype)
    for block, e in zip(cache.blocks, cache.weights):
        queries = slice(block.query_start, block.query_end)
        att[:, :, queries, block.key_start:block.key_end] = e / cache.rowsum[:, :, queries]
    return att
