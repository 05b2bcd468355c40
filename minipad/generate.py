"""Greedy decoding with a key/value cache, many prompts of different lengths in one batch.

Decoding one token at a time with GPT.forward would recompute every earlier position at every step.
Each position's keys and values never change once computed, so KVCache keeps them per layer and
forward_step runs only the new tokens through the model, letting their queries attend to the cached keys.

Prompts of different lengths share a batch by left padding: row b's tokens start at column start[b] and
all rows end at the same column, so each step appends one column for every row. A row's positions count
from its own start (position = column - start[b]) and its queries never see the padding columns; the
logits are therefore those GPT.forward gives the unpadded row (tests check this for every position scheme).

    cache = KVCache(model, batch_size=2, max_length=16, start=[0, 1])
    logits = forward_step(model, np.array([[5, 6, 7], [0, 5, 6]]), cache)   # (2,3,V); row 1 is [5, 6]
    logits = forward_step(model, logits[:, -1:].argmax(-1), cache)           # (2,1,V), one more step
"""
import math

import numpy as np

from .model import TokenLayout
from .nn import head_forward, layernorm_forward, linear_forward, merge_heads, mlp_forward, rope_forward, split_heads

DEFAULT_BATCH_SIZE = 512  # rows decoded together: large enough that the per-step Python work is amortised


class KVCache:
    """Keys and values of every layer for B sequences, filled column by column up to max_length.

    keys[layer], values[layer]: (B,NH,max_length,HS), keys already rotated when position == "rope".
    start (B,): column of each row's first real token (0 when unpadded). length: columns filled so far.
    """

    def __init__(self, model, batch_size, max_length, start=None):
        config = model.config
        shape = (batch_size, config.n_head, max_length, config.head_size)
        self.keys = [np.zeros(shape, model.dtype) for _ in range(config.n_layer)]
        self.values = [np.zeros(shape, model.dtype) for _ in range(config.n_layer)]
        self.start = np.zeros(batch_size, np.int64) if start is None else np.asarray(start, np.int64)
        if self.start.shape != (batch_size,):
            raise ValueError(f"start must hold one column per row, shape ({batch_size},), got {self.start.shape}")
        self.lines = np.zeros((batch_size, max_length), np.int64)  # step line of each column (line window)
        self.length = 0

    @property
    def max_length(self):
        return self.keys[0].shape[2]

    def keep_rows(self, rows):
        """Drop every row not in rows (integer indices), e.g. the rows that finished decoding."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
        self.start = self.start[rows]
        self.lines = self.lines[rows]


def _cached_attention(q, k, v, cache, layer, visible_bias):
    """Attention of the new queries over the cached keys and the new ones.

    q, k, v (B,NH,Tn,HS) for the Tn new columns; visible_bias (B,1,Tn,L): 0 where a query may look, -inf
    elsewhere; L = columns filled after this step. Writes k and v into the cache. Returns y (B,NH,Tn,HS).
    The same softmax as attention_forward: y = exp(scores - rowmax) @ v / rowsum.
    """
    first, last = cache.length, cache.length + q.shape[2]
    cache.keys[layer][:, :, first:last] = k
    cache.values[layer][:, :, first:last] = v
    keys = cache.keys[layer][:, :, :last]  # (B,NH,L,HS)
    values = cache.values[layer][:, :, :last]  # (B,NH,L,HS)
    scores = (q * (1.0 / math.sqrt(q.shape[-1]))) @ keys.swapaxes(-1, -2)  # (B,NH,Tn,L)
    scores += visible_bias
    scores -= scores.max(axis=-1, keepdims=True)
    e = np.exp(scores, out=scores)
    y = e @ values  # (B,NH,Tn,HS)
    y /= (e @ np.ones(e.shape[-1], e.dtype))[..., None]  # row sums
    return y


def forward_step(model, ids, cache, layout=None):
    """Run the next Tn columns ids (B,Tn) through the model, reading and extending cache.

    layout: a TokenLayout of (B,Tn) arrays for the new columns (padding columns: any value), or None for
    plain positions counted from each row's start. Returns logits (B,Tn,V), equal to GPT.forward's at
    those positions. The layers are those of block_forward (nn/block.py); only attention differs, reading
    the cache instead of recomputing.
    """
    ids = np.asarray(ids)
    config, params = model.config, model.params
    B, Tn = ids.shape
    first, last = cache.length, cache.length + Tn
    if last > cache.max_length:
        raise ValueError(f"the cache holds {cache.max_length} columns; {last} needed")
    columns = np.arange(first, last)  # (Tn,)
    counted = columns[None, :] - cache.start[:, None]  # (B,Tn), negative on left padding
    if counted.max() >= config.block_size:
        raise ValueError(f"position {counted.max()} is beyond block_size={config.block_size}")
    layout = layout or TokenLayout()
    model.check_layout((B, Tn), layout)
    positions = np.maximum(counted, 0) if layout.positions is None else layout.positions  # (B,Tn)
    # padding gets position 0 (or whatever layout says); no real query ever sees it
    # Query column i of row b sees key column j when start[b] <= j <= i. A padding query sees itself only,
    # so that no row of scores is all -inf.
    key_columns = np.arange(last)[None, None, :]  # (1,1,L)
    query_columns = columns[None, :, None]  # (1,Tn,1)
    visible = (key_columns >= cache.start[:, None, None]) & (key_columns <= query_columns)
    if config.line_window:  # and only keys of the query's own step line or the line before
        cache.lines[:, first:last] = layout.lines
        visible &= cache.lines[:, None, :last] >= layout.lines[:, :, None] - 1
    visible |= key_columns == query_columns  # (B,Tn,L)
    visible_bias = np.where(visible, 0.0, -np.inf).astype(model.dtype)[:, None]  # (B,1,Tn,L)

    x = params["wte.weight"][ids]  # (B,Tn,C)
    if config.position == "learned":
        x = x + params["wpe.weight"][positions]
    if config.places:
        x = x + params["wplace.weight"][layout.places]
    if config.roles:
        x = x + params["wrole.weight"][layout.roles]
    rope = model.rope(positions)  # (cos, sin) each (B,Tn,HS/2), or None
    if rope is not None:
        rope = (rope[0][:, None], rope[1][:, None])  # (B,1,Tn,HS/2), the same for every head
    for layer in range(config.n_layer):
        p = model.block_params(layer)
        normed, _ = layernorm_forward(x, p["ln1.gain"], p["ln1.bias"])
        qkv, _ = linear_forward(normed, p["attn.qkv.weight"], p["attn.qkv.bias"])  # (B,Tn,3C)
        q, k, v = split_heads(qkv, config.n_head)  # (B,NH,Tn,HS) each
        if rope is not None:
            q, _ = rope_forward(q, *rope)
            k, _ = rope_forward(k, *rope)
        y = _cached_attention(q, k, v, cache, layer, visible_bias)  # (B,NH,Tn,HS)
        projected, _ = linear_forward(merge_heads(y), p["attn.proj.weight"], p["attn.proj.bias"])
        x = x + projected
        normed, _ = layernorm_forward(x, p["ln2.gain"], p["ln2.bias"])
        mlp_params = {name[4:]: value for name, value in p.items() if name.startswith("mlp.")}
        mlp_out, _ = mlp_forward(normed, mlp_params)
        x = x + mlp_out
    cache.length = last
    x, _ = layernorm_forward(x, params["ln_f.gain"], params["ln_f.bias"])
    logits, _ = head_forward(x, model.head_weight())  # (B,Tn,V)
    return logits


def _layout_columns(model, layouts, rows, first, width, start):
    """TokenLayout of columns first..first+width-1 of the given rows, from each row's SequenceLayout-like
    object (lists positions, places, lines, one entry per real token); None without layouts. Padding
    columns (before start[row]) get 0; places beyond the model's table are clamped to its last row (only
    tokens a model wrote past any sensible length can get there)."""
    if layouts is None:
        return None
    arrays = {name: np.zeros((len(rows), width), np.int64) for name in TokenLayout._fields}
    for r, row in enumerate(rows):
        for name, array in arrays.items():
            values = getattr(layouts[row], name)
            begin = max(first, start[r])  # first real column of the span
            array[r, begin - first:] = values[begin - start[r]:first + width - start[r]]
    config = model.config
    if config.places:
        np.minimum(arrays["places"], config.places - 1, out=arrays["places"])
    return TokenLayout(positions=arrays["positions"] if config.position_ids != "plain" else None,
                       places=arrays["places"] if config.places else None,
                       lines=arrays["lines"] if config.line_window else None,
                       roles=arrays["roles"] if config.roles else None)


def _generate_batch(model, prompts, max_new_tokens, stop_token, layouts=None):
    """Greedy decoding of one batch of prompts; returns the new tokens of each (without the stop token).
    layouts: None, or one SequenceLayout (minipad/positions.py) per prompt, not yet fed any token."""
    lengths = np.array([len(prompt) for prompt in prompts])
    B, P = len(prompts), int(lengths.max())
    start = P - lengths  # left padding of each row
    ids = np.zeros((B, P), np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, start[row]:] = prompt
        if layouts is not None:
            layouts[row].extend(prompt)
    budget = np.minimum(max_new_tokens, model.config.block_size - lengths)  # (B,) new tokens each row may add
    steps = int(budget.max())
    new_tokens = [[] for _ in prompts]
    if steps <= 0:
        return new_tokens
    cache = KVCache(model, B, P + steps - 1, start)
    rows = np.arange(B)  # the prompt each batch row decodes; rows are dropped as they finish
    layout = _layout_columns(model, layouts, rows, 0, P, start)
    logits = forward_step(model, ids, cache, layout)[:, -1]  # (B,V), predicts each row's first new token
    done = budget <= 0  # a prompt that fills block_size gets no new token
    for step in range(steps):
        tokens = logits.argmax(axis=-1)  # (B_rows,), greedy: the most likely next token
        if stop_token is not None:
            done |= tokens == stop_token
        for row, token in zip(rows[~done], tokens[~done]):
            new_tokens[row].append(int(token))
        done |= budget[rows] <= step + 1  # the row has all the tokens it may have
        if done.all():
            break
        # Finished rows keep being decoded (their tokens ignored) until they are a quarter of the batch,
        # since dropping them copies the cache; or at once if their next position would pass block_size.
        next_position_too_far = lengths[rows] + step >= model.config.block_size
        if 4 * done.sum() >= len(rows) or (done & next_position_too_far).any():
            keep = np.flatnonzero(~done)
            rows, tokens, done = rows[keep], tokens[keep], done[keep]
            cache.keep_rows(keep)
        if layouts is not None:
            for row, token in zip(rows, tokens):
                layouts[row].extend([token])
        layout = _layout_columns(model, layouts, rows, P + step, 1, start[rows])
        logits = forward_step(model, tokens[:, None], cache, layout)[:, 0]
    return new_tokens


def generate(model, prompts, max_new_tokens, stop_token=None, batch_size=DEFAULT_BATCH_SIZE, layouts=None):
    """Greedy decoding: for each prompt (a list of token ids), the list of new tokens it generated.

    layouts: None for plain positions, or one fresh SequenceLayout per prompt (minipad/positions.py):
    it reads the prompt and every written token and gives the model their positions, places and lines.

    A row stops at stop_token (not included in its result), after max_new_tokens, or when prompt plus new
    tokens fill block_size. Prompts are decoded batch_size at a time, sorted by length so that a batch
    holds prompts of similar lengths (little padding); the results come back in the prompts' order.
    """
    if any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token")
    longest = max((len(prompt) for prompt in prompts), default=0)
    if longest > model.config.block_size:
        raise ValueError(f"a prompt of {longest} tokens exceeds block_size={model.config.block_size}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    order = sorted(range(len(prompts)), key=lambda index: len(prompts[index]))
    results = [None] * len(prompts)
    for first in range(0, len(order), batch_size):
        indices = order[first:first + batch_size]
        batch_layouts = None if layouts is None else [layouts[i] for i in indices]
        batch_results = _generate_batch(model, [prompts[i] for i in indices], max_new_tokens, stop_token,
                                        batch_layouts)
        for index, tokens in zip(indices, batch_results):
            results[index] = tokens
    return results
