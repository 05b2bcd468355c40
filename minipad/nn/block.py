"""One transformer block, pre-LayerNorm (GPT-2), with a residual connection around each half:

    x = x + proj(attention(qkv(ln1(x))))     attention half
    x = x + mlp(ln2(x))                      feed-forward half
"""
from .attention import attention_backward, attention_forward
from .layernorm import layernorm_backward, layernorm_forward
from .linear import linear_backward, linear_forward
from .mlp import mlp_backward, mlp_forward

# The block's parameters, by their names inside the block (the model prefixes them with "h.<layer>.").
BLOCK_PARAM_NAMES = (
    "ln1.gain", "ln1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
    "ln2.gain", "ln2.bias", "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias",
)


def block_forward(x, params, n_head, rope=None, bias=None):
    """x (B,T,C) -> out (B,T,C). params: the block's arrays keyed by BLOCK_PARAM_NAMES.

    rope: None, or (cos, sin) tables to rotate queries and keys (see attention_forward).
    bias: None (causal attention), or a (B,1,T,T) additive attention mask (see attention_forward).
    Cache: the caches of the layers inside.
    """
    normed, ln1_cache = layernorm_forward(x, params["ln1.gain"], params["ln1.bias"])  # (B,T,C)
    qkv, qkv_cache = linear_forward(normed, params["attn.qkv.weight"], params["attn.qkv.bias"])  # (B,T,3C)
    attended, attn_cache = attention_forward(qkv, n_head, rope, bias)  # (B,T,C)
    projected, proj_cache = linear_forward(attended, params["attn.proj.weight"], params["attn.proj.bias"])
    x = x + projected  # (B,T,C), residual: a new array, since ln1's cache holds the old x
    normed2, ln2_cache = layernorm_forward(x, params["ln2.gain"], params["ln2.bias"])  # (B,T,C)
    mlp_params = {name[4:]: params[name] for name in BLOCK_PARAM_NAMES if name.startswith("mlp.")}
    mlp_out, mlp_cache = mlp_forward(normed2, mlp_params)  # (B,T,C)
    out = x + mlp_out  # (B,T,C), residual
    return out, (ln1_cache, qkv_cache, attn_cache, proj_cache, ln2_cache, mlp_cache)


def block_backward(dout, cache):
    """dout (B,T,C) -> (dx (B,T,C), grads keyed by BLOCK_PARAM_NAMES)."""
    ln1_cache, qkv_cache, attn_cache, proj_cache, ln2_cache, mlp_cache = cache
    grads = {}
    # forward was: out = x + mlp_out, so dout flows unchanged into both terms
    dnormed2, mlp_grads = mlp_backward(dout, mlp_cache)
    grads.update({"mlp." + name: g for name, g in mlp_grads.items()})
    # forward was: normed2 = ln2(x)
    dx, ln2_grads = layernorm_backward(dnormed2, ln2_cache)
    dx += dout  # the residual path
    # forward was: x = x + projected, so dx flows unchanged into both terms
    dattended, proj_grads = linear_backward(dx, proj_cache)
    # forward was: attended = attention(qkv)
    dqkv, _ = attention_backward(dattended, attn_cache)
    # forward was: qkv = linear(normed, attn.qkv)
    dnormed, qkv_grads = linear_backward(dqkv, qkv_cache)
    # forward was: normed = ln1(x)
    dx_in, ln1_grads = layernorm_backward(dnormed, ln1_cache)
    dx_in += dx  # the residual path
    grads.update({"ln2." + name: g for name, g in ln2_grads.items()})
    grads.update({"attn.proj." + name: g for name, g in proj_grads.items()})
    grads.update({"attn.qkv." + name: g for name, g in qkv_grads.items()})
    grads.update({"ln1." + name: g for name, g in ln1_grads.items()})
    return dx_in, grads
