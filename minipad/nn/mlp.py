"""The transformer's feed-forward part: widen to 4C, GELU, project back to C.

    out = gelu(x @ fc.weight + fc.bias) @ proj.weight + proj.bias
"""
from typing import NamedTuple

from .gelu import GeluSlopeCache, gelu_backward, gelu_forward
from .linear import LinearCache, linear_backward, linear_forward


class MLPCache(NamedTuple):
    fc: LinearCache
    gelu: GeluSlopeCache
    proj: LinearCache


def mlp_forward(x, params):
    """x (B,T,C) -> out (B,T,C).

    params: {"fc.weight": (C,4C), "fc.bias": (4C,), "proj.weight": (4C,C), "proj.bias": (C,)}.
    """
    hidden, fc_cache = linear_forward(x, params["fc.weight"], params["fc.bias"])  # (B,T,4C)
    activated, gelu_cache = gelu_forward(hidden)  # (B,T,4C)
    out, proj_cache = linear_forward(activated, params["proj.weight"], params["proj.bias"])  # (B,T,C)
    return out, MLPCache(fc_cache, gelu_cache, proj_cache)


def mlp_backward(dout, cache):
    """dout (B,T,C) -> (dx (B,T,C), grads keyed like mlp_forward's params)."""
    # forward was: out = linear(activated, proj)
    dactivated, proj_grads = linear_backward(dout, cache.proj)
    # forward was: activated = gelu(hidden)
    dhidden, _ = gelu_backward(dactivated, cache.gelu)
    # forward was: hidden = linear(x, fc)
    dx, fc_grads = linear_backward(dhidden, cache.fc)
    grads = {"fc." + name: g for name, g in fc_grads.items()}
    grads.update({"proj." + name: g for name, g in proj_grads.items()})
    return dx, grads
