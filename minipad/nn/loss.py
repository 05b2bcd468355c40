"""Softmax cross-entropy with a loss mask: the mean negative log-likelihood over the counted positions.

    loss = sum_{b,t} mask[b,t] * (logsumexp(logits[b,t]) - logits[b,t,targets[b,t]]) / count
    count = sum(mask), the number of counted tokens (a batch with none gives loss 0, not NaN)
    dlogits = (softmax(logits) - onehot(targets)) * mask / count

Two forms, the same maths (tests check that they agree in float64 and pass the gradient check):
  cross_entropy_forward_reference, cross_entropy_backward_reference   log-softmax and a one-hot matrix;
  cross_entropy_forward, cross_entropy_backward                        the fast form the model runs: no
                                                                       one-hot matrix, row sums as products
                                                                       (speed.py), probabilities in place.
normalizer: divide by this instead of sum(mask); lets a batch split in parts give gradients that add up to
those of the whole batch (pass the whole batch's count to every part). Targets at uncounted positions are
never read, so they may hold any value (e.g. -1 for padding).
"""
from typing import NamedTuple

import numpy as np

from .speed import row_sums


class CrossEntropyCache(NamedTuple):
    probs: np.ndarray    # (N,V) softmax(logits), one row per position
    targets: np.ndarray  # (N,) target ids, 0 where not counted
    weight: np.ndarray   # (N,) mask / count: each position's share of the loss
    shape: tuple         # the logits' shape, (B,T,V)


def _counted(logits, targets, mask, normalizer):
    """(N,) targets with 0 at uncounted positions, and the (N,) weights mask / count."""
    weight = np.asarray(mask, dtype=logits.dtype).reshape(-1)  # (N,)
    safe_targets = np.where(weight != 0, np.asarray(targets).reshape(-1), 0)  # (N,)
    count = float(weight.sum()) if normalizer is None else float(normalizer)
    return safe_targets, (weight / count if count > 0 else weight)


def cross_entropy_forward_reference(logits, targets, mask, normalizer=None):
    """logits (B,T,V), targets (B,T) ints, mask (B,T) of 0/1 -> (loss: float, cache)."""
    V = logits.shape[-1]
    logits_rows = logits.reshape(-1, V)  # (N,V)
    targets, weight = _counted(logits, targets, mask, normalizer)
    shifted = logits_rows - logits_rows.max(axis=-1, keepdims=True)  # softmax ignores a constant shift
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (N,V), log softmax
    nll = -log_probs[np.arange(len(targets)), targets]  # (N,)
    loss = float((weight * nll).sum())
    return loss, CrossEntropyCache(np.exp(log_probs), targets, weight, logits.shape)


def cross_entropy_backward_reference(dloss, cache):
    """dloss: the upstream scalar (1.0 for a loss) -> (dlogits (B,T,V), {})."""
    probs, targets, weight, shape = cache
    onehot = np.eye(probs.shape[1], dtype=probs.dtype)[targets]  # (N,V)
    # forward was: loss = sum weight * (logsumexp(logits) - logits[target]), and logsumexp' = softmax
    dlogits = (probs - onehot) * weight[:, None] * dloss
    return dlogits.reshape(shape), {}


def cross_entropy_forward(logits, targets, mask, normalizer=None):
    """The fast form of cross_entropy_forward_reference: the same (loss, cache)."""
    V = logits.shape[-1]
    logits_rows = logits.reshape(-1, V)  # (N,V), N = B*T
    targets, weight = _counted(logits, targets, mask, normalizer)
    shifted = logits_rows - logits_rows.max(axis=-1, keepdims=True)  # (N,V)
    probs = np.exp(shifted)  # (N,V), unnormalised for now
    sum_exp = row_sums(probs)  # (N,)
    nll = np.log(sum_exp) - shifted[np.arange(len(targets)), targets]  # (N,), -log softmax(logits)[target]
    loss = float(weight @ nll)
    probs /= sum_exp[:, None]
    return loss, CrossEntropyCache(probs, targets, weight, logits.shape)


def cross_entropy_backward(dloss, cache):
    """The fast form of cross_entropy_backward_reference: subtract 1 at the targets instead of a one-hot."""
    probs, targets, weight, shape = cache
    # forward was: loss = sum weight * (logsumexp(logits) - logits[target])
    dlogits = probs.copy()  # (N,V)
    dlogits[np.arange(len(dlogits)), targets] -= 1.0
    dlogits *= (weight * float(dloss))[:, None]
    return dlogits.reshape(shape), {}
