"""A decoder-only Transformer (GPT-2 shape) built from the layer pairs in minipad.nn.

    x      = wte[ids] (+ wpe[positions] with learned positions)           (B,T,C)
             (+ wplace[places] with digit-place embeddings, + wrole[roles] with role embeddings)
    x      = block(x) for each of n_layer blocks                          (B,T,C)
    logits = ln_f(x) @ head^T, head = wte when the weights are tied       (B,T,V)

GPT holds only its configuration and its named parameter arrays. forward returns the logits;
loss_and_grads runs forward and backward and returns fresh gradient arrays on every call. Nothing
else is stored between calls, so two calls (even from two threads) never interfere.

Decoding (minipad/generate.py) runs the same forward, with a key/value cache per block and its own mask.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .nn import (
    BLOCK_PARAM_NAMES, attention_mask, attention_probabilities, block_backward, block_forward,
    cross_entropy_backward, cross_entropy_forward, embedding_backward, embedding_forward, head_backward,
    head_forward, layernorm_backward, layernorm_forward, rope_tables,
)
from .nn.block import BlockCache
from .nn.embedding import EmbeddingCache
from .nn.head import HeadCache
from .nn.layernorm import LayerNormCache
from .nn.speed import column_sums

POSITION_SCHEMES = ("learned", "none", "rope")
POSITION_IDS = ("plain", "coupled", "random")
DTYPES = ("float32", "float64")
INIT_STD = 0.02  # GPT-2's initial standard deviation of weights and embeddings


@dataclass
class GPTConfig:
    vocab_size: int  # number of token ids, V
    n_layer: int = 2  # number of transformer blocks
    n_head: int = 4  # attention heads per block, NH
    n_embd: int = 64  # channels of the residual stream, C; each head has HS = C / NH
    block_size: int = 512  # longest sequence the model accepts, T <= block_size
    position: str = "learned"  # how positions are told: "learned" (absolute, wpe), "none", "rope" (rotary)
    tie_weights: bool = True  # the output head reuses the token embedding wte; else its own head.weight
    dtype: str = "float32"  # "float32" for training and decoding, "float64" for gradient checks
    # How the model is told where a token is (minipad/positions.py computes the ids from the task's layout):
    position_ids: str = "plain"  # "plain" 0,1,2..; "coupled" from the token's step line and slot; "random"
    places: int = 0  # digit-place embeddings wplace (places,C) for place ids 0..places-1; 0 means none
    line_window: bool = False  # a token attends only to its own step line and the one before
    roles: int = 0  # role embeddings wrole (roles,C): which part of the text a token is in; 0 means none

    def __post_init__(self):
        for name in ("vocab_size", "n_layer", "n_head", "n_embd", "block_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if self.position not in POSITION_SCHEMES:
            raise ValueError(f"GPTConfig.position must be one of {POSITION_SCHEMES}, got {self.position!r}")
        if self.position == "rope" and self.head_size % 2 != 0:
            raise ValueError(
                f"position='rope' needs an even head size, but n_embd / n_head = {self.head_size}"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"GPTConfig.dtype must be one of {DTYPES}, got {self.dtype!r}")
        if not isinstance(self.tie_weights, bool):
            raise ValueError(f"GPTConfig.tie_weights must be True or False, got {self.tie_weights!r}")
        if self.position_ids not in POSITION_IDS:
            raise ValueError(f"GPTConfig.position_ids must be one of {POSITION_IDS}, got {self.position_ids!r}")
        if self.position_ids != "plain" and self.position != "rope":
            raise ValueError(f"position_ids={self.position_ids!r} needs rotary positions (position='rope'): "
                             f"a learned table has only block_size rows")
        if isinstance(self.places, bool) or not isinstance(self.places, (int, np.integer)) or self.places < 0 \
                or self.places == 1:
            raise ValueError(f"GPTConfig.places must be 0 (none) or at least 2, got {self.places!r}")
        if isinstance(self.roles, bool) or not isinstance(self.roles, (int, np.integer)) or self.roles < 0 \
                or self.roles == 1:
            raise ValueError(f"GPTConfig.roles must be 0 (none) or at least 2, got {self.roles!r}")
        if not isinstance(self.line_window, bool):
            raise ValueError(f"GPTConfig.line_window must be True or False, got {self.line_window!r}")

    @property
    def head_size(self):
        """HS, channels per attention head."""
        return self.n_embd // self.n_head


class TokenLayout(NamedTuple):
    """Where each token of a (B,T) batch sits, beyond its order (minipad/positions.py computes these).

    positions: (B,T) ints for rotary or learned positions (default: 0, 1, 2, ... in every row);
    places:    (B,T) digit-place ids for wplace, 0 for a token that is not a digit (needed if config.places);
    lines:     (B,T) step line of each token (needed if config.line_window): a query sees keys of its own
               line and of the line before, never later ones.
    roles:     (B,T) role ids for wrole (needed if config.roles): which part of the text each token is in.
    segments:  (B,T) which problem of its row each token belongs to, when several problems are packed into
               one row (minipad/packing.py): a query sees only keys of its own problem. None: one per row.
    """
    positions: np.ndarray | None = None
    places: np.ndarray | None = None
    lines: np.ndarray | None = None
    roles: np.ndarray | None = None
    segments: np.ndarray | None = None


def visible_keys(layout, T, line_window):
    """(B,T,T) booleans, True where query i may see key j; None when that is plain causal attention.

    Always j <= i (causal); with packed problems (layout.segments) only keys of the query's own problem;
    with the line window only keys of the query's own step line and the one before (lines[j] >= lines[i] - 1).
    Every query sees at least itself.
    """
    if layout.segments is None and not line_window:
        return None
    visible = np.tri(T, dtype=bool)[None]  # (1,T,T)
    if layout.segments is not None:
        visible = visible & (layout.segments[:, None, :] == layout.segments[:, :, None])  # (B,T,T)
    if line_window:
        visible = visible & (layout.lines[:, None, :] >= layout.lines[:, :, None] - 1)  # (B,T,T)
    return visible


class ForwardCache(NamedTuple):
    """What GPT's backward needs from its forward: each layer's cache, None for a part the model lacks."""
    wte: EmbeddingCache
    wpe: EmbeddingCache | None
    wplace: EmbeddingCache | None
    wrole: EmbeddingCache | None
    blocks: list  # one BlockCache per layer
    ln_f: LayerNormCache
    head: HeadCache


class GPT:
    """The model: a config and a dict of named parameters.

    Parameter names (the optimizer relies on them): "wte.weight" (V,C); "wpe.weight" (block_size,C) with
    learned positions; per block i, "h.<i>." + each of nn.BLOCK_PARAM_NAMES; "ln_f.gain", "ln_f.bias";
    "head.weight" (V,C) when the head is not tied. Linear weights are (IN,OUT) and end in ".weight",
    biases end in ".bias", LayerNorm gains in ".gain".
    """

    def __init__(self, config: GPTConfig, rng: np.random.Generator):
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig, got {type(config).__name__}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"GPT needs a numpy.random.Generator such as np.random.default_rng(0), got {rng!r}")
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.params = self._init_params(rng)

    def _init_params(self, rng):
        """GPT-2 initialisation: weights N(0, 0.02^2), the two projections that write into the residual
        stream scaled by 1/sqrt(2 n_layer) (each block adds twice to it), biases 0, LayerNorm gains 1."""
        config = self.config
        C, V = config.n_embd, config.vocab_size
        residual_std = INIT_STD / math.sqrt(2 * config.n_layer)

        def normal(shape, std=INIT_STD):
            return (rng.standard_normal(shape) * std).astype(self.dtype)

        def zeros(shape):
            return np.zeros(shape, self.dtype)

        params = {"wte.weight": normal((V, C))}
        if config.position == "learned":
            params["wpe.weight"] = normal((config.block_size, C))
        if config.places:
            params["wplace.weight"] = normal((config.places, C))
        if config.roles:
            params["wrole.weight"] = normal((config.roles, C))
        for layer in range(config.n_layer):
            prefix = f"h.{layer}."
            params[prefix + "ln1.gain"] = np.ones(C, self.dtype)
            params[prefix + "ln1.bias"] = zeros(C)
            params[prefix + "attn.qkv.weight"] = normal((C, 3 * C))
            params[prefix + "attn.qkv.bias"] = zeros(3 * C)
            params[prefix + "attn.proj.weight"] = normal((C, C), residual_std)
            params[prefix + "attn.proj.bias"] = zeros(C)
            params[prefix + "ln2.gain"] = np.ones(C, self.dtype)
            params[prefix + "ln2.bias"] = zeros(C)
            params[prefix + "mlp.fc.weight"] = normal((C, 4 * C))
            params[prefix + "mlp.fc.bias"] = zeros(4 * C)
            params[prefix + "mlp.proj.weight"] = normal((4 * C, C), residual_std)
            params[prefix + "mlp.proj.bias"] = zeros(C)
        params["ln_f.gain"] = np.ones(C, self.dtype)
        params["ln_f.bias"] = zeros(C)
        if not config.tie_weights:
            params["head.weight"] = normal((V, C))
        return params

    def decay_names(self):
        """Names of the parameters that get weight decay by default: the matrices of linear layers, including
        an untied head. Not biases, not LayerNorm gains, not embeddings."""
        return {name for name in self.params if name.endswith(".weight") and not name.startswith(("wte.", "wpe.", "wplace.", "wrole."))}

    def num_params(self):
        """Number of scalar parameters (a tied head counts once)."""
        return sum(p.size for p in self.params.values())

    def block_params(self, layer):
        """Block `layer`'s parameters keyed by their names inside the block (nn.BLOCK_PARAM_NAMES)."""
        return {name: self.params[f"h.{layer}.{name}"] for name in BLOCK_PARAM_NAMES}

    def head_weight(self):
        """(V,C) matrix of the output head: the token embedding when tied."""
        return self.params["wte.weight" if self.config.tie_weights else "head.weight"]

    def check_inputs(self, ids, targets=None, loss_mask=None, layout=None):
        """Raise ValueError with a clear message unless ids (and targets, loss_mask, layout) are valid (B,T)
        arrays; returns ids as an array."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a (B,T) array of integers, got shape {ids.shape} of {ids.dtype}")
        B, T = ids.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence length T={T} exceeds block_size={self.config.block_size}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size}), got {ids.min()}..{ids.max()}")
        for name, array in (("targets", targets), ("loss_mask", loss_mask)):
            if array is not None and np.shape(array) != ids.shape:
                raise ValueError(f"{name} must have the shape of ids {ids.shape}, got {np.shape(array)}")
        if targets is not None:
            targets = np.asarray(targets)
            counted_targets = targets[np.asarray(loss_mask) != 0]
            if counted_targets.size and (counted_targets.min() < 0 or counted_targets.max() >= self.config.vocab_size):
                raise ValueError(f"targets at counted positions must lie in [0, {self.config.vocab_size})")
        self.check_layout(ids.shape, layout)
        return ids

    def check_layout(self, shape, layout):
        """ValueError unless layout (a TokenLayout or None) holds what this model needs, in shape (B,T)."""
        layout = layout or TokenLayout()
        if not isinstance(layout, TokenLayout):
            raise ValueError(f"layout must be a TokenLayout, got {type(layout).__name__}")
        needed = {"places": bool(self.config.places), "lines": self.config.line_window,
                  "roles": bool(self.config.roles)}
        for name, array in layout._asdict().items():
            if array is None:
                if needed.get(name):
                    raise ValueError(f"this model needs layout.{name} (see minipad/positions.py)")
                continue
            if np.shape(array) != shape or not np.issubdtype(np.asarray(array).dtype, np.integer):
                raise ValueError(f"layout.{name} must be a {shape} array of integers, got {np.shape(array)}")
        if layout.places is not None and self.config.places and np.size(layout.places) and (
                layout.places.min() < 0 or layout.places.max() >= self.config.places):
            raise ValueError(f"place ids must lie in [0, {self.config.places}), got {layout.places.max()}: "
                             f"numbers this long are beyond the model's place embeddings")
        if layout.roles is not None and self.config.roles and np.size(layout.roles) and (
                layout.roles.min() < 0 or layout.roles.max() >= self.config.roles):
            raise ValueError(f"role ids must lie in [0, {self.config.roles}), got {layout.roles.max()}")
        if layout.positions is not None and self.config.position == "learned" and np.size(layout.positions) and (
                layout.positions.min() < 0 or layout.positions.max() >= self.config.block_size):
            raise ValueError(f"learned positions must lie in [0, {self.config.block_size})")

    def rope(self, positions):
        """(cos, sin) tables for the given positions (T,) or (B,T), or None unless position == "rope"."""
        if self.config.position != "rope":
            return None
        return rope_tables(positions, self.config.head_size, self.dtype)

    def attention_mask(self, layout, T):
        """The AttentionMask a (B,T) batch with this layout needs, or None for plain causal attention."""
        visible = visible_keys(layout, T, self.config.line_window)
        return None if visible is None else attention_mask(visible, self.dtype)

    def _forward(self, ids, layout=None, mask=None, kv=None):
        """ids (B,T) -> logits (B,T,V) and a ForwardCache for the backward.

        mask: an AttentionMask to use instead of the one the layout implies; kv: one KeyValueCache per
        block while decoding (the mask then spans the cache's columns).
        """
        B, T = ids.shape
        layout = layout or TokenLayout()
        positions = np.arange(T) if layout.positions is None else layout.positions  # (T,) or (B,T)
        x, wte_cache = embedding_forward(ids, self.params["wte.weight"])  # (B,T,C)
        wpe_cache = wplace_cache = wrole_cache = None
        if self.config.position == "learned":
            position_embedding, wpe_cache = embedding_forward(positions, self.params["wpe.weight"])  # (T,C)|(B,T,C)
            x = x + position_embedding  # (B,T,C)
        if self.config.places:
            place_embedding, wplace_cache = embedding_forward(layout.places, self.params["wplace.weight"])
            x = x + place_embedding  # (B,T,C)
        if self.config.roles:
            role_embedding, wrole_cache = embedding_forward(layout.roles, self.params["wrole.weight"])
            x = x + role_embedding  # (B,T,C)
        rope = self.rope(positions)
        if mask is None:
            mask = self.attention_mask(layout, T)
        block_caches = []
        for layer in range(self.config.n_layer):
            x, block_cache = block_forward(x, self.block_params(layer), self.config.n_head, rope, mask,
                                           None if kv is None else kv[layer])
            block_caches.append(block_cache)
        x, ln_f_cache = layernorm_forward(x, self.params["ln_f.gain"], self.params["ln_f.bias"])
        logits, head_cache = head_forward(x, self.head_weight())  # (B,T,V)
        return logits, ForwardCache(wte_cache, wpe_cache, wplace_cache, wrole_cache, block_caches, ln_f_cache,
                                    head_cache)

    def forward(self, ids, return_cache=False, layout=None, mask=None, kv=None):
        """ids (B,T) ints -> logits (B,T,V); with return_cache=True, (logits, cache).

        layout: a TokenLayout (positions, places, lines, roles, segments), or None for plain positions 0..T-1.
        mask, kv: for decoding (minipad/generate.py): its own AttentionMask over the cached columns, and one
        nn.KeyValueCache per block, which receives the new columns' keys and values.

        cache["attention"][layer] is that block's attention weights (B,NH,T,T), each row summing to 1.
        """
        ids = self.check_inputs(ids, layout=layout)
        logits, cache = self._forward(ids, layout, mask, kv)
        if not return_cache:
            return logits
        attention = [attention_probabilities(block_cache.attention) for block_cache in cache.blocks]
        return logits, {"attention": attention, "backward": cache}

    def loss(self, ids, targets, loss_mask, layout=None):
        """Mean cross-entropy over the positions where loss_mask is non-zero (a float; 0.0 if there are none)."""
        ids = self.check_inputs(ids, targets, loss_mask, layout)
        logits, _ = self._forward(ids, layout)
        loss, _ = cross_entropy_forward(logits, targets, loss_mask)
        return loss

    def loss_and_grads(self, ids, targets, loss_mask, normalizer=None, layout=None):
        """Forward and backward on one batch: (loss, grads), grads keyed like params, freshly allocated.

        ids, targets (B,T) ints; loss_mask (B,T) of 0/1 (bool or float): which targets count.
        normalizer: divide the summed loss by this instead of the number of counted targets. When a batch is
        split into parts, passing the whole batch's count to each part makes the parts' gradients sum to the
        whole batch's gradients (and their losses to its loss).
        layout: a TokenLayout, or None for plain positions (see forward).
        """
        ids = self.check_inputs(ids, targets, loss_mask, layout)
        logits, cache = self._forward(ids, layout)
        loss, loss_cache = cross_entropy_forward(logits, targets, loss_mask, normalizer)
        grads = {}
        dlogits, _ = cross_entropy_backward(1.0, loss_cache)  # (B,T,V)
        # forward was: logits = x @ head^T
        dx, head_grads = head_backward(dlogits, cache.head)
        head_name = "wte.weight" if self.config.tie_weights else "head.weight"
        grads[head_name] = head_grads["weight"]
        # forward was: x = ln_f(x)
        dx, ln_f_grads = layernorm_backward(dx, cache.ln_f)
        grads["ln_f.gain"], grads["ln_f.bias"] = ln_f_grads["gain"], ln_f_grads["bias"]
        for layer in reversed(range(self.config.n_layer)):
            # forward was: x = block(x)
            dx, block_grads = block_backward(dx, cache.blocks[layer])
            grads.update({f"h.{layer}.{name}": g for name, g in block_grads.items()})
        if cache.wrole is not None:
            # forward was: x = x + wrole[roles], one row per token
            _, wrole_grads = embedding_backward(dx, cache.wrole)
            grads["wrole.weight"] = wrole_grads["weight"]
        if cache.wplace is not None:
            # forward was: x = x + wplace[places], one row per token
            _, wplace_grads = embedding_backward(dx, cache.wplace)
            grads["wplace.weight"] = wplace_grads["weight"]
        if cache.wpe is not None:
            # forward was: x = x + position_embedding, (T,C) broadcast over the batch, or one (B,T,C) row each
            dposition = column_sums(dx) if cache.wpe.ids.ndim == 1 else dx  # (T,C) or (B,T,C)
            _, wpe_grads = embedding_backward(dposition, cache.wpe)
            grads["wpe.weight"] = wpe_grads["weight"]
        # forward was: x = wte[ids]
        _, wte_grads = embedding_backward(dx, cache.wte)
        if self.config.tie_weights:
            grads["wte.weight"] += wte_grads["weight"]  # the head's use of wte adds its own gradient
        else:
            grads["wte.weight"] = wte_grads["weight"]
        return loss, {name: grads[name] for name in self.params}
