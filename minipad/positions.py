"""Telling the model where each token is: the position schemes, from a task's layout to id arrays.

A Transformer sees a set of tokens; positions say their order. How they are told decides whether a model
trained on 1-8 digit sums can add 9 digits (see the README's "Longer sums than it trained on"):

  plain    position t for the t-th token (0, 1, 2, ...), the paper's setting. With rotary positions a
           query meets a key through their distance only, and copying a digit from the line above means
           looking one line-length back: lines of longer sums are longer than any distance seen in training.
  coupled  position = line * line_stride + slot, from the task's layout (minipad/tasks/*_layout.py): a
           digit and the digit it copies are the same distance apart in a sum of any size.
  random   while training, each row's positions are a sorted random draw from 0..RANDOM_RANGE-1 (Ruoss et
           al. 2023), so large positions and gaps are trained too; decoding uses one fixed such draw.

and, with any of them, two more signals a config can switch on:

  places       a learned embedding of each digit's place in its number (1 = units, 2 = tens, ...; 0 = not a
               digit), added to the token embedding (Abacus embeddings, McLeish et al. 2024). While training,
               every place of a row is shifted by one random offset, so that places beyond the training
               sizes are trained too; decoding uses the places as they are.
  roles        a learned embedding of the part of the text a token is in (first operand, carry, final line,
               answer, ...; the task numbers them), so a token knows what it is writing in a problem of any size.
  line window  a token attends only to its own step line and the one before (attention_forward's bias).

Everything here works from what a task's LayoutReader says of each token (place, line, slot), one token
at a time, using only the text before it: so decoding, which knows only the text written so far, gets
exactly the ids that training computed from the whole target (tests check this). A task that gives no
reader gets plain positions, no places (all 0) and one line.
"""
from __future__ import annotations

import numpy as np

from .data import prompt_text
from .model import TokenLayout
from .tasks.base import TokenSpot

RANDOM_RANGE = 2048       # random positions are drawn from 0..RANDOM_RANGE-1
NO_SPOT = TokenSpot(0, 0, 0)


def needs_layout(config) -> bool:
    """True if a model of this GPTConfig needs more than plain positions."""
    return config.position_ids != "plain" or bool(config.places) or config.line_window or bool(config.roles)


class SequenceLayout:
    """The layout ids of one sequence, built token by token (for decoding) or all at once (for training).

        layout = SequenceLayout(config, reader, vocabulary, rng=None)
        layout.extend(prompt_ids)          # the prompt's tokens
        layout.extend([next_id])           # then each token as it is written
        layout.positions, layout.places, layout.lines, layout.roles   # lists, one entry per token read

    rng: a numpy Generator while training (random place offset, random positions), None when decoding.
    """

    def __init__(self, config, reader, vocabulary, rng=None, block_size=None):
        self.config, self.reader, self.vocabulary = config, reader, vocabulary
        self.positions, self.places, self.lines, self.roles = [], [], [], []
        block_size = block_size or config.block_size
        self.place_offset = 0
        if config.position_ids == "random":
            draw = rng if rng is not None else np.random.default_rng(0)   # decoding: one fixed draw
            self.random_positions = np.sort(draw.choice(RANDOM_RANGE, size=block_size, replace=False))
        self.rng = rng

    def extend(self, token_ids) -> None:
        """Read more tokens (ids) and append their ids: position, place, line and role of each."""
        tokens = [self.vocabulary[int(token_id)] for token_id in token_ids]
        spots = self.reader.read_all(tokens) if self.reader is not None else [NO_SPOT] * len(tokens)
        if not spots:
            return
        places, lines, slots, roles = (list(column) for column in zip(*spots))
        first = len(self.positions)
        if self.config.position_ids == "coupled" and self.reader is not None:
            stride = self.reader.line_stride
            positions = [line * stride + slot for line, slot in zip(lines, slots)]
        elif self.config.position_ids == "random":
            last = len(self.random_positions) - 1
            positions = self.random_positions[np.minimum(np.arange(first, first + len(spots)), last)].tolist()
        else:
            positions = list(range(first, first + len(spots)))
        self.positions += positions
        self.places += places
        self.lines += lines
        self.roles += roles

    def shift_places(self, rng) -> None:
        """Training: add one random offset to every place of the row, keeping the largest in the table."""
        largest = max(self.places, default=0)
        if not self.config.places or largest == 0:
            return
        room = self.config.places - 1 - largest
        if room > 0:
            offset = int(rng.integers(0, room + 1))
            places = np.asarray(self.places)
            self.places = np.where(places > 0, places + offset, 0).tolist()


def batch_layout(config, rows: list[SequenceLayout], length: int) -> TokenLayout | None:
    """Stack the first ``length`` ids of each row into (B,T) arrays; None if the model needs only plain
    positions. Rows shorter than ``length`` (padding) repeat their last ids."""
    if not needs_layout(config):
        return None

    def stack(name):
        array = np.zeros((len(rows), length), np.int64)
        for r, row in enumerate(rows):
            values = getattr(row, name)[:length]
            array[r, :len(values)] = values
            array[r, len(values):] = values[-1] if values else 0
        return array

    return TokenLayout(positions=stack("positions") if config.position_ids != "plain" else None,
                       places=stack("places") if config.places else None,
                       lines=stack("lines") if config.line_window else None,
                       roles=stack("roles") if config.roles else None)




def training_layout(config, task, format, tokenizer, examples, batch, rng) -> TokenLayout | None:
    """The TokenLayout of a training batch (minipad/data.py make_batch), or None for plain positions."""
    if not needs_layout(config):
        return None
    sequences = [tokenizer.encode(prompt_text(example)) + tokenizer.encode(example.target) for example in examples]
    rows = []
    for example, sequence in zip(examples, sequences):
        row = SequenceLayout(config, task.layout_reader(example.input, format), tokenizer.vocabulary, rng)
        row.extend(sequence)
        row.shift_places(rng)
        rows.append(row)
    return batch_layout(config, rows, batch.ids.shape[1])


def decoding_layouts(config, task, format, tokenizer, examples) -> list[SequenceLayout] | None:
    """One fresh SequenceLayout per example for generate(), or None for plain positions."""
    if not needs_layout(config):
        return None
    return [SequenceLayout(config, task.layout_reader(example.input, format), tokenizer.vocabulary)
            for example in examples]
