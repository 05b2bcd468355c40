"""One transformer block, pre-LayerNorm (GPT-2), with a residual connection around each half:

    x = x + proj(attention(qkv(ln1(x))))     attention half
    x = x + mlp(ln2(x))                      feed-forward half

Training and decoding both run this function; decoding passes a key/value cache to the attention.
"""
from typing import NamedTuple

from .attention import AttentionCache, attention_backward, attention_forward
from .layernorm import LayerNormCache, layernorm_backward, layernorm_forward
from .linear import LinearCache, linear_backward, linear_forward
from .mlp import MLPCache, mlp_backward, mlp_forward

# The block's parameters, by their names inside the block (the model prefixes them with "h.<layer>.").
BLOCK_PARAM_NAMES = (
    "ln1.gain", "ln1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
    "ln2.gain", "ln2.bias", "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias",
)


class BlockCache(NamedTuple):
    ln1: LayerNormCache
    qkv: LinearCache
    attention: AttentionCache
    proj: LinearCache
    ln2: LayerNormCache
    mlp: MLPCache


def _without_prefix(params, prefix):
    """The entries of params whose names start with prefix, keyed by the rest of the name."""
    return {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}


def block_forward(x, params, n_head, rope=None, mask=None, kv=None):
    """x (B,T,C) -> out (B,T,C). params: the block's arrays keyed by BLOCK_PARAM_NAMES.

    rope: None, or (cos, sin) tables to rotate queries and keys; mask: None (causal attention) or an
    AttentionMask; kv: None while training, this block's KeyValueCache while decoding (see attention_forward).
    """
    normed, ln1_cache = layernorm_forward(x, params["ln1.gain"], params["ln1.bias"])  # (B,T,C)
    qkv, qkv_cache = linear_forward(normed, params["attn.qkv.weight"], params["attn.qkv.bias"])  # (B,T,3C)
    attended, attn_cache = attention_forward(qkv, n_head, rope, mask, kv)  # (B,T,C)
    projected, proj_cache = linear_forward(attended, params["attn.proj.weight"], params["attn.proj.bias"])
    x = x + projected  # (B,T,C), residual: a new array, since ln1's cache holds the old x
    normed2, ln2_cache = layernorm_forward(x, params["ln2.gain"], params["ln2.bias"])  # (B,T,C)
    mlp_out, mlp_cache = mlp_forward(normed2, _without_prefix(params, "mlp."))  # (B,T,C)
    out = x + mlp_out  # (B,T,C), residual
    return out, BlockCache(ln1_cache, qkv_cache, attn_cache, proj_cache, ln2_cache, mlp_cache)


def block_backward(dout, cache):
    """dout (B,T,C) -> (dx (B,T,C), grads keyed by BLOCK_PARAM_NAMES)."""
    grads = {}
    # forward was: out = x + mlp_out, so dout flows unchanged into both terms
    dnormed2, mlp_grads = mlp_backward(dout, cache.mlp)
    grads.update({"mlp." + name: g for name, g in mlp_grads.items()})
    # forward was: normed2 = ln2(x)
    dx, ln2_grads = layernorm_backward(dnormed2, cache.ln2)
    dx += dout  # the residual path
    # forward was: x = x + projected, so dx flows unchanged into both terms
    dattended, proj_grads = linear_backward(dx, cache.proj)
    # forward was: attended = attention(qkv)
    dqkv, _ = attention_backward(dattended, cache.attention)
    # forward was: qkv = linear(normed, attn.qkv)
    dnormed, qkv_grads = linear_backward(dqkv, cache.qkv)
    # forward was: normed = ln1(x)
    dx_in, ln1_grads = layernorm_backward(dnormed, cache.ln1)
    dx_in += dx  # the residual path
    grads.update({"ln2." + name: g for name, g in ln2_grads.items()})
    grads.update({"attn.proj." + name: g for name, g in proj_grads.items()})
    grads.update({"attn.qkv." + name: g for name, g in qkv_grads.items()})
    grads.update({"ln1." + name: g for name, g in ln1_grads.items()})
    return dx_in, grads
