"""minipad's layers, each a pair of plain functions:

    out, cache = <layer>_forward(x, ...params)
    dx, grads  = <layer>_backward(dout, cache)     grads: {param name: gradient}, {} for no parameters

The cache (a NamedTuple whose fields say what they hold) keeps what the backward needs; nothing is stored
anywhere else, so calls never interfere. Where the fast form hides the maths (LayerNorm, GELU, attention,
RoPE, the loss), the plain form sits beside it as <layer>_forward_reference / <layer>_backward_reference, with
the same results (tests check both agree); the model runs the fast form. speed.py holds the speed idioms
the fast forms share, with their measured reasons.
"""
from .attention import (
    KeyValueCache, attention_backward, attention_backward_reference, attention_forward,
    attention_forward_reference, attention_probabilities, join_heads, merge_heads, split_heads,
)
from .block import BLOCK_PARAM_NAMES, block_backward, block_forward
from .embedding import embedding_backward, embedding_forward
from .gelu import gelu_backward, gelu_backward_reference, gelu_forward, gelu_forward_reference
from .head import head_backward, head_forward
from .layernorm import (
    layernorm_backward, layernorm_backward_reference, layernorm_forward, layernorm_forward_reference,
)
from .linear import linear_backward, linear_forward
from .loss import (
    cross_entropy_backward, cross_entropy_backward_reference, cross_entropy_forward,
    cross_entropy_forward_reference,
)
from .mask import AttentionMask, KeyRange, attention_mask, causal_mask
from .mlp import mlp_backward, mlp_forward
from .rope import rope_backward, rope_backward_reference, rope_forward, rope_forward_reference, rope_tables
from .softmax import softmax_backward, softmax_forward

__all__ = [
    "AttentionMask", "BLOCK_PARAM_NAMES", "KeyRange", "KeyValueCache", "attention_backward",
    "attention_backward_reference", "attention_forward", "attention_forward_reference", "attention_mask",
    "attention_probabilities", "block_backward", "block_forward", "causal_mask", "cross_entropy_backward",
    "cross_entropy_backward_reference", "cross_entropy_forward", "cross_entropy_forward_reference",
    "embedding_backward", "embedding_forward", "gelu_backward", "gelu_backward_reference", "gelu_forward",
    "gelu_forward_reference", "head_backward", "head_forward", "join_heads", "layernorm_backward",
    "layernorm_backward_reference", "layernorm_forward", "layernorm_forward_reference", "linear_backward",
    "linear_forward", "merge_heads", "mlp_backward", "mlp_forward", "rope_backward", "rope_backward_reference",
    "rope_forward", "rope_forward_reference", "rope_tables", "softmax_backward", "softmax_forward", "split_heads",
]
