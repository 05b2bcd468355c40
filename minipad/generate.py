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
import numpy as np

from .model import TokenLayout
from .nn import KeyValueCache, attention_mask

DEFAULT_BATCH_SIZE = 512  # rows decoded together: large enough that the per-step Python work is amortised


class KVCache:
    """Keys and values of every layer for B sequences, filled column by column up to max_length.

    layers: one nn.KeyValueCache per block (keys already rotated when position == "rope"), which the
    block's attention reads and extends. start (B,): column of each row's first real token (0 when
    unpadded). lines (B,max_length): the step line of each column, for the line window.
    """

    def __init__(self, model, batch_size, max_length, start=None):
        config = model.config
        shape = (batch_size, config.n_head, max_length, config.head_size)
        self.layers = [KeyValueCache(np.zeros(shape, model.dtype), np.zeros(shape, model.dtype))
                       for _ in range(config.n_layer)]
        self.start = np.zeros(batch_size, np.int64) if start is None else np.asarray(start, np.int64)
        if self.start.shape != (batch_size,):
            raise ValueError(f"start must hold one column per row, shape ({batch_size},), got {self.start.shape}")
        self.lines = np.zeros((batch_size, max_length), np.int64)
        self.max_length = max_length

    @property
    def length(self):
        """Columns filled so far."""
        return self.layers[0].length

    def keep_rows(self, rows):
        """Drop every row not in rows (integer indices), e.g. the rows that finished decoding."""
        for layer in self.layers:
            layer.keep_rows(rows)
        self.start = self.start[rows]
        self.lines = self.lines[rows]


def decoding_mask(model, cache, layout, Tn):
    """The AttentionMask of Tn new columns over every column in the cache after them: (B,1,Tn,L).

    Query column i of row b sees key column j when start[b] <= j <= i (never the left padding), and with
    the line window only keys of its own step line or the line before. A padding query sees itself only,
    so that no row of scores is all -inf.
    """
    first, last = cache.length, cache.length + Tn
    key_columns = np.arange(last)[None, None, :]  # (1,1,L)
    query_columns = np.arange(first, last)[None, :, None]  # (1,Tn,1)
    visible = (key_columns >= cache.start[:, None, None]) & (key_columns <= query_columns)  # (B,Tn,L)
    if model.config.line_window:
        cache.lines[:, first:last] = layout.lines
        visible &= cache.lines[:, None, :last] >= layout.lines[:, :, None] - 1
    visible |= key_columns == query_columns
    return attention_mask(visible, model.dtype)


def forward_step(model, ids, cache, layout=None):
    """Run the next Tn columns ids (B,Tn) through the model, reading and extending cache.

    layout: a TokenLayout of (B,Tn) arrays for the new columns (padding columns: any value), or None for
    plain positions counted from each row's start. Returns logits (B,Tn,V), equal to GPT.forward's at
    those positions: it is GPT.forward, with the cache and a mask that hides each row's left padding.
    """
    ids = np.asarray(ids)
    B, Tn = ids.shape
    first, last = cache.length, cache.length + Tn
    if last > cache.max_length:
        raise ValueError(f"the cache holds {cache.max_length} columns; {last} needed")
    counted = np.arange(first, last)[None, :] - cache.start[:, None]  # (B,Tn), negative on left padding
    if counted.max() >= model.config.block_size:
        raise ValueError(f"position {counted.max()} is beyond block_size={model.config.block_size}")
    layout = layout or TokenLayout()
    model.check_layout((B, Tn), layout)
    if layout.positions is None:  # positions counted from each row's start; padding gets 0, unseen anyway
        layout = layout._replace(positions=np.maximum(counted, 0))
    mask = decoding_mask(model, cache, layout, Tn)
    return model.forward(ids, layout=layout, mask=mask, kv=cache.layers)


def _layout_columns(model, layouts, rows, first, width, start):
    """TokenLayout of columns first..first+width-1 of the given rows, from each row's SequenceLayout-like
    object (lists positions, places, lines, roles, one entry per real token); None without layouts. Padding
    columns (before start[row]) get 0; places beyond the model's table are clamped to its last row (only
    tokens a model wrote past any sensible length can get there). Only the ids the model uses are built."""
    if layouts is None:
        return None
    config = model.config
    used = {"positions": config.position_ids != "plain", "places": bool(config.places),
            "lines": config.line_window, "roles": bool(config.roles)}
    arrays = {}
    for name in (name for name, needed in used.items() if needed):
        lists = [getattr(layouts[row], name) for row in rows]
        if width == 1 and first >= max(start, default=0):  # one decoding step: a column of real tokens
            array = np.array([values[first - begin] for values, begin in zip(lists, start)], np.int64)[:, None]
        else:
            array = np.zeros((len(rows), width), np.int64)
            for r, values in enumerate(lists):
                begin = max(first, start[r])  # first real column of the span
                array[r, begin - first:] = values[begin - start[r]:first + width - start[r]]
        arrays[name] = array
    if config.places:
        np.minimum(arrays["places"], config.places - 1, out=arrays["places"])
    return TokenLayout(**arrays)


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


def generate_by_recomputing(model, prompts, max_new_tokens, stop_token=None, layouts=None):
    """The reference for generate: the same greedy decoding, but every step runs each whole sequence so far
    through GPT.forward (no cache), so a text of T tokens costs about T^2 / 2 token passes instead of T.

    Sequences are decoded in groups of equal prompt length (GPT.forward has no padding mask); layouts as
    for generate. Slow on purpose: lesson 10 and `python -m minipad bench` race it against the cache.
    """
    if any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token")
    groups = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(len(prompt), []).append(index)
    results = [None] * len(prompts)
    for length, indices in groups.items():
        ids = np.array([prompts[i] for i in indices], dtype=np.int64)  # (B,t), all rows alike long
        rows = None if layouts is None else [layouts[i] for i in indices]
        if rows is not None:
            for row, index in zip(rows, indices):
                row.extend(prompts[index])
        new = [[] for _ in indices]
        finished = np.zeros(len(indices), bool)
        steps = min(max_new_tokens, model.config.block_size - length)
        for _ in range(steps):
            layout = None if rows is None else _layout_columns(model, rows, range(len(rows)), 0, ids.shape[1],
                                                               np.zeros(len(rows), np.int64))
            tokens = model.forward(ids, layout=layout)[:, -1].argmax(axis=-1)  # (B,), all columns recomputed
            if stop_token is not None:
                finished |= tokens == stop_token
            for row in np.flatnonzero(~finished):
                new[row].append(int(tokens[row]))
            if finished.all():
                break
            ids = np.concatenate([ids, tokens[:, None]], axis=1)
            if rows is not None:
                for row, token in zip(rows, tokens):
                    row.extend([token])
        for index, tokens in zip(indices, new):
            results[index] = tokens
    return results
