"""The training run's configuration: one dataclass, one comment per field.

The command line fills it in (``--max-steps 3000``); a run prints it resolved and saves it in every
checkpoint. Unknown settings are an error, never ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

import numpy as np

from .data import encode_example, split_options
from .errors import UserError
from .model import GPTConfig
from .tasks import get_task
from .tokenizer import Tokenizer


UNLIMITED_STEPS = 10**9   # max_steps when only a time budget is given


# How positions were told before the table layout: checkpoints saved without these settings used them.
PLAIN_POSITIONS = {"position_ids": "plain", "places": 0, "line_window": False, "roles": 0}


@dataclass
class TrainConfig:
    # what to learn
    task: str = "addition"          # "addition" or "polynomial"
    format: str = "scratchpad"      # "scratchpad" (show the work) or "direct" (the answer alone)
    min_digits: int = 1             # addition: fewest digits of a training operand
    max_digits: int = 8             # addition: most digits of a training operand (the paper: 8)
    # the model (see GPTConfig)
    n_layer: int = 2                # transformer blocks
    n_head: int = 4                 # attention heads per block
    n_embd: int = 64                # width of the residual stream
    block_size: int = 1024          # longest sequence: 20-digit scratchpads take 824 tokens (free with rope)
    position: str = "rope"          # "learned", "none" or "rope" (rotary)
    position_ids: str = "coupled"   # rotary ids: "coupled" (the task's table), "plain" (0,1,2.., the paper), "random"
    places: int = 33                # digit-place embeddings for places 0..places-1 (0: none; see positions.py)
    line_window: bool = True        # attend only to the own step line and the one before
    roles: int = 8                  # role embeddings for role ids 0..roles-1 (0: none; see positions.py)
    tie_weights: bool = True        # output head shares the token embedding
    # optimisation
    batch_size: int = 32            # sequences per step
    lr: float = 3e-3                # peak learning rate
    min_lr: float = 3e-4            # learning rate at the end of the cosine decay
    warmup_steps: int = 200         # linear warmup from near 0 to lr
    weight_decay: float = 0.1       # AdamW decay of linear weights
    grad_clip: float = 1.0          # clip the global gradient norm to this
    threads: int = 2                # Python threads, each computing the gradient of part of the batch
    # budget
    max_steps: int = 3000           # number of optimizer steps
    max_minutes: float = 0.0        # if > 0, also stop after this many minutes of training (resumes included)
    # evaluation
    eval_every: int = 500           # steps between progress evaluations (and checkpoints)
    eval_problems: int = 200        # held-out problems per progress evaluation
    test_problems: int = 1000       # held-out problems of the training lengths at the end
    ood_problems: int = 1000        # problems just beyond the training lengths at the end (addition: max_digits+1 and +2)
    ood_digits: str = ""            # addition: sizes of the out-of-distribution set, e.g. "9,10,12" ("": the next two)
    # bookkeeping
    seed: int = 0                   # seeds the one random generator of the run
    out: str = ""                   # output folder; "" means runs/<task>-<format>

    def __post_init__(self):
        if not self.out:
            self.out = os.path.join("runs", f"{self.task}-{self.format}")

    def validate(self) -> None:
        """Raise UserError naming the first setting that cannot work."""
        try:
            task = get_task(self.task)
        except ValueError as error:
            raise UserError(str(error)) from None
        if self.format not in ("direct", "scratchpad"):
            raise UserError(f"unknown format {self.format!r}: choose direct or scratchpad")
        positive = ["n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_steps", "eval_every",
                    "eval_problems", "threads"]
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "min_lr", "weight_decay", "grad_clip", "max_minutes", "test_problems", "ood_problems",
                     "warmup_steps"):
            if not getattr(self, name) >= 0:
                raise UserError(f"--{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")
        if self.seed < 0:
            raise UserError(f"--seed must not be negative, got {self.seed}")
        if self.min_lr > self.lr:
            raise UserError(f"--min-lr ({self.min_lr}) must not exceed --lr ({self.lr})")
        if self.warmup_steps > self.max_steps:
            raise UserError(f"--warmup-steps ({self.warmup_steps}) must not exceed --max-steps ({self.max_steps})")
        try:
            self.model_config(1)
            checks = [("train", self.task_options("train"))]
            if self.ood_problems and task.name == "addition":
                checks += [("ood", options) for options in self.ood_option_sets()]
            for split, options in checks:
                task.sample_problem(np.random.default_rng(0), **options)
                self.check_fits(task, split, options)
        except ValueError as error:
            raise UserError(str(error)) from None

    def check_fits(self, task, split: str, options: dict) -> None:
        """UserError unless the longest sequence of the split fits in block_size."""
        example = task.render(task.longest_problem(**options), self.format)
        length = len(encode_example(Tokenizer(task.spaced_digits), example)[0])
        if length > self.block_size:
            what = "out-of-distribution problems" if split == "ood" else "training problems"
            fix = " or --ood-problems 0" if split == "ood" else ""
            raise UserError(f"the longest {what} take {length} tokens but --block-size is {self.block_size}: "
                            f"raise --block-size{fix}")

    def ood_option_sets(self) -> list[dict]:
        """The sampling options of each out-of-distribution set: one set by default (see task_options), or
        one per size listed in ood_digits (one operand exactly that long, the other 1..that many digits)."""
        if not self.ood_digits:
            return [self.task_options("ood")]
        try:
            sizes = [int(part) for part in self.ood_digits.split(",")]
        except ValueError:
            raise ValueError(f"--ood-digits takes sizes separated by commas, such as 9,10,12; "
                             f"got {self.ood_digits!r}") from None
        return [split_options(get_task(self.task), "ood", longest=size) for size in sizes]

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                         block_size=self.block_size, position=self.position, tie_weights=self.tie_weights,
                         position_ids=self.position_ids, places=self.places, line_window=self.line_window,
                         roles=self.roles)

    def task_options(self, split: str) -> dict:
        """Sampling options of a split. Addition: train and test use the training digit range; "ood" the
        two lengths just beyond it (9 and 10 digits for the paper's 1-8)."""
        task = get_task(self.task)
        if task.name != "addition":
            return split_options(task, split)
        if split == "ood":
            return split_options(task, split, min_digits=self.max_digits + 1, max_digits=self.max_digits + 2)
        return split_options(task, split, min_digits=self.min_digits, max_digits=self.max_digits)


def config_fields() -> list:
    """The TrainConfig fields, for the command line."""
    return list(fields(TrainConfig))
