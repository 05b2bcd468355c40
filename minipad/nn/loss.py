"""Softmax cross-entropy with a loss mask: the mean negative log-likelihood over the counted positions.

    loss = sum_{b,t} mask[b,t] * (logsumexp(logits[b,t]) - logits[b,t,targets[b,t]]) / count
    count = sum(mask), the number of counted tokens (a batch with none gives loss 0, not NaN)
"""
import numpy as np


def cross_entropy_forward(logits, targets, mask, normalizer=None):
    """logits (B,T,V), targets (B,T) ints, mask (B,T) of 0/1 -> (loss: float, cache).

    normalizer: divide by this instead of sum(mask); lets a batch split in parts give gradients that add up
    to those of the whole batch (pass the whole batch's count to every part).
    Targets at uncounted positions are never read, so they may hold any value (e.g. -1 for padding).
    Cache: the probabilities softmax(logits) (N,V), the targets, and the per-position weight mask/count.
    """
    V = logits.shape[-1]
    logits_rows = logits.reshape(-1, V)  # (N,V), N = B*T
    weight = np.asarray(mask, dtype=logits.dtype).reshape(-1)  # (N,)
    counted = weight != 0
    safe_targets = np.where(counted, np.asarray(targets).reshape(-1), 0)  # (N,)
    count = float(weight.sum()) if normalizer is None else float(normalizer)
    weight = weight / count if count > 0 else weight  # (N,), mask / count
    shifted = logits_rows - logits_rows.max(axis=-1, keepdims=True)  # (N,V), softmax ignores the shift
    probs = np.exp(shifted)  # (N,V), unnormalised for now
    sum_exp = probs @ np.ones(V, probs.dtype)  # (N,), row sums (a product with ones is faster than sum)
    rows = np.arange(len(logits_rows))
    nll = np.log(sum_exp) - shifted[rows, safe_targets]  # (N,), -log softmax(logits)[target]
    loss = float(weight @ nll)
    probs /= sum_exp[:, None]
    return loss, (probs, safe_targets, weight, logits.shape)


def cross_entropy_backward(dloss, cache):
    """dlogits = dloss * mask / count * (softmax(logits) - onehot(targets)).

    dloss: the upstream scalar (1.0 for a loss) -> (dlogits (B,T,V), {}).
    """
    probs, safe_targets, weight, shape = cache
    # forward was: loss = sum weight * (logsumexp(logits) - logits[target])
    dlogits = probs.copy()  # (N,V)
    dlogits[np.arange(len(dlogits)), safe_targets] -= 1.0
    dlogits *= (weight * float(dloss))[:, None]
    return dlogits.reshape(shape), {}
