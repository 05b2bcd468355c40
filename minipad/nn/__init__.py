"""minipad's layers, each a pair of plain functions:

    out, cache = <layer>_forward(x, ...params)
    dx, grads  = <layer>_backward(dout, cache)     grads: {param name: gradient}, {} for no parameters

The cache holds what the backward needs; nothing is stored anywhere else, so calls never interfere.
"""
from .attention import attention_backward, attention_forward, attention_probabilities, causal_bias
from .attention import merge_heads, split_heads
from .block import BLOCK_PARAM_NAMES, block_backward, block_forward
from .embedding import embedding_backward, embedding_forward
from .gelu import gelu_backward, gelu_forward
from .head import head_backward, head_forward
from .layernorm import layernorm_backward, layernorm_forward
from .linear import linear_backward, linear_forward
from .loss import cross_entropy_backward, cross_entropy_forward
from .mlp import mlp_backward, mlp_forward
from .rope import rope_backward, rope_forward, rope_tables
from .softmax import softmax_backward, softmax_forward

__all__ = [
    "BLOCK_PARAM_NAMES", "attention_backward", "attention_forward", "attention_probabilities", "block_backward",
    "block_forward", "causal_bias", "cross_entropy_backward", "cross_entropy_forward", "embedding_backward",
    "embedding_forward", "gelu_backward", "gelu_forward", "head_backward", "head_forward", "layernorm_backward",
    "layernorm_forward", "linear_backward", "linear_forward", "merge_heads", "mlp_backward", "mlp_forward",
    "rope_backward", "rope_forward", "rope_tables", "softmax_backward", "softmax_forward", "split_heads",
]
