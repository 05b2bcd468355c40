"""Datasets and batches: problems -> examples -> padded arrays of token ids.

Train / test separation. Every problem is assigned once and for all to one side by a hash of its
canonical text (``task.problem_key``): one problem in HELD_OUT_SHARE is *held out*. Training draws only
problems that are not held out; the test splits draw only held-out ones. So no test problem can ever
appear in training, however many fresh training problems are drawn, and even the tiny spaces (there are
only 100 sums of two one-digit numbers) are split the same way for every seed. Test splits are drawn
independently, so a small space can repeat a problem inside a test set.

Splits (the paper's setup): ``train`` and ``test`` share the training distribution, drawn with the task's
options (addition: operands of 1 to 8 digits); ``ood`` lies outside it, with the options the task derives
from those (``Task.ood_options``; addition: 9 and 10 digits). Default sizes follow the paper:
100,000 / 10,000 / 1,000.

A training sequence is ``input + "\\n" + target`` then the end-of-text token. The model predicts every next
token, but the loss counts only the target's tokens and the end-of-text token (``mask``).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .checkpoint import write_lines_atomically
from .tasks import Example, Task
from .tokenizer import Tokenizer

HELD_OUT_SHARE = 10
SPLITS = ("train", "test", "ood")
DEFAULT_SIZES = {"train": 100_000, "test": 10_000, "ood": 1_000}
PROGRESS_FROM = 20_000   # show a progress bar when generating at least this many examples


def is_held_out(task: Task, problem) -> bool:
    """True for the one problem in HELD_OUT_SHARE that only test splits may use."""
    digest = hashlib.blake2b(task.problem_key(problem).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % HELD_OUT_SHARE == 0


def split_options(task: Task, split: str, options=None):
    """The options problems of ``split`` are drawn with, given the training ``options`` (default: the
    task's defaults); ValueError for an unknown split or one the task does not have."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return task.split_options(split, task.make_options() if options is None else options)


def sample_problem(task: Task, split: str, rng: np.random.Generator, options):
    """Draw one problem of ``split`` with that split's ``options`` (from ``split_options``): redraw until it
    lies on that split's side of the hash."""
    want_held_out = split != "train"
    while True:
        problem = task.sample_problem(rng, options)
        if is_held_out(task, problem) == want_held_out:
            return problem


def iterate_examples(task: Task, split: str, n: int, format: str, rng: np.random.Generator,
                     options=None, progress: bool | None = None, drawn_with=None):
    """The ``n`` examples of sample_examples one at a time, for streaming large datasets to a file."""
    drawn_with = split_options(task, split, options) if drawn_with is None else drawn_with
    show_bar = n >= PROGRESS_FROM if progress is None else progress
    for _ in tqdm(range(n), desc=f"{task.name} {split}", unit="ex", disable=not show_bar, leave=False):
        yield task.render(sample_problem(task, split, rng, drawn_with), format)


def sample_examples(task: Task, split: str, n: int, format: str, rng: np.random.Generator,
                    options=None, progress: bool | None = None, drawn_with=None) -> list[Example]:
    """``n`` examples of ``split`` rendered in ``format``, drawn with ``rng`` (deterministic given its state).

    options: the training options (default: the task's defaults); "ood" draws beyond them. drawn_with:
    the options to draw with instead (e.g. one of Task.ood_option_sets)."""
    return list(iterate_examples(task, split, n, format, rng, options, progress, drawn_with))


def split_rng(seed: int, split: str) -> np.random.Generator:
    """The generator for one split of a dataset seed: the splits of one seed are independent streams."""
    return np.random.default_rng([seed, SPLITS.index(split)])


def jsonl_lines(examples: Iterable[Example]) -> Iterator[str]:
    """One ``{"input": ..., "target": ...}`` line of JSON per example, each ending in a newline, as the
    examples come (they may be a generator)."""
    for example in examples:
        yield json.dumps({"input": example.input, "target": example.target}) + "\n"


def write_jsonl(path: str, examples: Iterable[Example]) -> int:
    """Write the JSONL lines atomically (a temporary file, then a rename), streamed: each line is written
    as it comes, so a dataset never has to fit in memory. Returns the number of lines written."""
    return write_lines_atomically(path, jsonl_lines(examples))


@dataclass
class Batch:
    """Arrays for one training step; row r is one example, padded on the right."""
    ids: np.ndarray       # (B, T) int64: tokens fed to the model
    targets: np.ndarray   # (B, T) int64: the next token at each position
    mask: np.ndarray      # (B, T) float32: 1 where the next token belongs to the target, else 0


def prompt_text(example: Example) -> str:
    """What the model reads before it starts writing: the input and a newline."""
    return example.input + "\n"


def encode_example(tokenizer: Tokenizer, example: Example) -> tuple[list[int], int]:
    """Token ids of the whole sequence (ending in end-of-text) and the length of its prompt."""
    prompt = tokenizer.encode(prompt_text(example))
    target = tokenizer.encode(example.target)
    return prompt + target + [tokenizer.eos_id], len(prompt)


def make_batch(tokenizer: Tokenizer, examples: list[Example]) -> Batch:
    """Pad the examples' sequences to the longest and shift by one for next-token targets."""
    encoded = [encode_example(tokenizer, example) for example in examples]
    length = max(len(sequence) for sequence, _ in encoded) - 1
    ids = np.full((len(examples), length), tokenizer.pad_id, dtype=np.int64)
    targets = np.full((len(examples), length), tokenizer.pad_id, dtype=np.int64)
    mask = np.zeros((len(examples), length), dtype=np.float32)
    for row, (sequence, prompt_length) in enumerate(encoded):
        n = len(sequence) - 1
        ids[row, :n] = sequence[:-1]
        targets[row, :n] = sequence[1:]
        # position t predicts token t+1: the target starts at token prompt_length
        mask[row, prompt_length - 1:n] = 1.0
    return Batch(ids, targets, mask)
