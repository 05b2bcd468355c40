"""The training run's configuration: one dataclass, each field with its help.

The command line fills it in (``--max-steps 3000``, with each field's help as the option's help); a run
prints it resolved and saves it in every checkpoint. Unknown settings are an error, never ignored.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields

from .data import encode_example, split_options
from .errors import UserError
from .memory import check_fits_in_memory, training_step_bytes
from .tasks import DEFAULT_TASK, TASKS, get_task
from .tasks.base import option, option_flag


UNLIMITED_STEPS = 10**9   # max_steps when only a time budget is given
MAX_PROBLEMS = 100_000    # most problems one evaluation may draw (the paper tests on 10,000)
# --quick: a first taste in at most two minutes on a 2-core laptop, with the task's quick_options (small
# problems: 1-3 digit sums for addition).
QUICK = {"max_steps": 2500, "warmup_steps": 100, "eval_every": 500, "eval_problems": 100,
         "test_problems": 300, "ood_problems": 100}
# How positions were told before the table layout: checkpoints saved without these settings used them.
PLAIN_POSITIONS = {"position_ids": "plain", "places": 0, "line_window": False, "roles": 0}

# float settings: (smallest allowed, whether the smallest itself is allowed)
FLOAT_RANGES = {
    "lr": (0.0, False),
    "min_lr": (0.0, True),
    "weight_decay": (0.0, True),
    "grad_clip": (0.0, True),
    "max_minutes": (0.0, True),
}


@dataclass
class TrainConfig:
    # what to learn
    task: str = option(DEFAULT_TASK, "which task (the names in minipad/tasks/__init__.py)")
    format: str = option("scratchpad", '"scratchpad" (show the work) or "direct" (the answer alone)')
    task_options: dict = field(default_factory=dict,
                               metadata={"help": "the task's own options (its Options dataclass)"})
    # the model (see GPTConfig)
    n_layer: int = option(2, "transformer blocks")
    n_head: int = option(4, "attention heads per block")
    n_embd: int = option(64, "width of the residual stream")
    block_size: int = option(1024, "longest sequence: 20-digit scratchpads take 824 tokens (free with rope)")
    position: str = option("rope", '"learned", "none" or "rope" (rotary)')
    position_ids: str = option("coupled", 'rotary ids: "coupled" (the task\'s table), "plain" (0,1,2.., the paper), '
                                          '"random"')
    places: int = option(33, "digit-place embeddings for places 0..places-1 (0: none; see positions.py)")
    line_window: bool = option(True, "attend only to the own step line and the one before")
    roles: int = option(8, "role embeddings for role ids 0..roles-1 (0: none; see positions.py)")
    tie_weights: bool = option(True, "output head shares the token embedding")
    # optimisation
    batch_size: int = option(32, "sequences per step")
    lr: float = option(3e-3, "peak learning rate")
    min_lr: float = option(3e-4, "learning rate at the end of the cosine decay")
    warmup_steps: int = option(200, "linear warmup from near 0 to lr (capped at max_steps)")
    weight_decay: float = option(0.1, "AdamW decay of linear weights")
    grad_clip: float = option(1.0, "clip the global gradient norm to this (0: no clipping)")
    workers: int = option(2, "processes computing the gradient, each on part of the batch (1: this one alone; "
                             "with more, one more process draws the next batches meanwhile)")
    # budget
    max_steps: int = option(3000, "number of optimizer steps")
    max_minutes: float = option(0.0, "if > 0, also stop after this many minutes of training (resumes included)")
    # evaluation
    eval_every: int = option(500, "steps between progress evaluations (and checkpoints)")
    eval_problems: int = option(200, "held-out problems per progress evaluation")
    test_problems: int = option(1000, "held-out problems of the training distribution at the end")
    ood_problems: int = option(1000, "problems just beyond the training distribution at the end "
                                     "(the task says which)")
    # bookkeeping
    seed: int = option(0, "seeds the one random generator of the run")
    out: str = option("", 'output folder; "" means runs/<task>-<format>')

    def __post_init__(self):
        if not self.out:
            self.out = os.path.join("runs", f"{self.task}-{self.format}")
        if self.task in TASKS:   # every option saved, defaults included (validate() names unknown ones)
            self.task_options = {**asdict(TASKS[self.task].Options()), **self.task_options}

    @classmethod
    def from_saved(cls, saved: dict) -> "TrainConfig":
        """The config a checkpoint saved. Checkpoints written before tasks declared their own options kept
        them as top-level settings, each one there for every task: a setting that is an option of this
        run's task moves into task_options, one that only another task has is dropped. Checkpoints written
        before the table layout were trained with plain positions (PLAIN_POSITIONS). The setting once named
        threads (a batch's parts ran in threads) is now workers."""
        saved = {**PLAIN_POSITIONS, **saved}
        if "threads" in saved:
            saved.setdefault("workers", saved.pop("threads"))
        if "task_options" not in saved and saved.get("task") in TASKS:
            names = {f.name for f in fields(cls)}
            own = TASKS[saved["task"]].option_names()
            any_task = {name for task in TASKS.values() for name in task.option_names()}
            legacy = [key for key in saved if key not in names and key in any_task]
            saved["task_options"] = {key: saved[key] for key in legacy if key in own}
            for key in legacy:
                del saved[key]
        return cls(**saved)

    def validate(self) -> list[str]:
        """Raise UserError naming the first setting that cannot work; return notes on settings adjusted.

        The one place that decides what a run accepts (train, compare, resume and loading a checkpoint
        all come here). A warmup longer than the run is capped at the run's length (noted).
        """
        try:
            task = get_task(self.task)
            self.options()
        except ValueError as error:
            raise UserError(str(error)) from None
        if self.format not in ("direct", "scratchpad"):
            raise UserError(f"unknown format {self.format!r}: choose direct or scratchpad")
        positive = ["n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_steps", "eval_every",
                    "eval_problems", "workers"]
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"{option_flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in ("test_problems", "ood_problems", "warmup_steps", "seed"):
            if getattr(self, name) < 0:
                raise UserError(f"{option_flag(name)} must not be negative, got {getattr(self, name)}")
        for name in ("eval_problems", "test_problems", "ood_problems"):
            check_problem_count(option_flag(name), getattr(self, name))
        for name, (smallest, inclusive) in FLOAT_RANGES.items():
            value = getattr(self, name)
            in_range = value >= smallest if inclusive else value > smallest
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not in_range:
                raise UserError(f"{option_flag(name)} must be a finite number {'>=' if inclusive else '>'} "
                                f"{smallest:g}, got {value}")
        if self.min_lr > self.lr:
            raise UserError(f"--min-lr ({self.min_lr}) must not exceed --lr ({self.lr})")
        if self.lr * self.weight_decay >= 1:
            raise UserError(f"--lr x --weight-decay must be below 1 (each step shrinks the weights by that "
                            f"share), got {self.lr:g} x {self.weight_decay:g}")
        notes = []
        if self.warmup_steps > self.max_steps:
            notes.append(f"--warmup-steps {self.warmup_steps} is longer than the run: capped at --max-steps "
                         f"{self.max_steps}")
            self.warmup_steps = self.max_steps
        try:
            self.model_config(1)
            self.check_fits(task, "train", self.split_options("train"))
            if self.ood_problems:
                for drawn_with in task.ood_option_sets(self.options()):
                    self.check_fits(task, "ood", drawn_with)
        except ValueError as error:
            raise UserError(str(error)) from None
        return notes

    def check_memory(self) -> None:
        """UserError with the estimate if a training step of this size cannot fit in memory (memory.py)."""
        task = get_task(self.task)
        length = min(self.block_size, self.sequence_length(task, self.split_options("train")))
        needed = training_step_bytes(self.n_layer, self.n_head, self.n_embd, task.tokenizer().vocab_size,
                                     self.batch_size, length, self.workers)
        check_fits_in_memory(needed, f"a training step (batch {self.batch_size} x {length} tokens, width "
                                     f"{self.n_embd}, {self.n_layer} layers)",
                             "lower --batch-size, --n-embd or --n-layer")

    def sequence_length(self, task, options) -> int:
        """Tokens of the longest sequence of a split drawn with these options."""
        example = task.render(task.longest_problem(options), self.format)
        return len(encode_example(task.tokenizer(), example)[0])

    def check_fits(self, task, split: str, options) -> None:
        """UserError unless the longest sequence of the split fits in block_size."""
        length = self.sequence_length(task, options)
        if length > self.block_size:
            what = "out-of-distribution problems" if split == "ood" else "training problems"
            fix = " or --ood-problems 0" if split == "ood" else ""
            raise UserError(f"the longest {what} take {length} tokens but --block-size is {self.block_size}: "
                            f"raise --block-size{fix}")

    def model_config(self, vocab_size: int):
        """The model's GPTConfig (imported here: the command line reads this module without loading the model)."""
        from .model import GPTConfig
        return GPTConfig(vocab_size=vocab_size, n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                         block_size=self.block_size, position=self.position, tie_weights=self.tie_weights,
                         position_ids=self.position_ids, places=self.places, line_window=self.line_window,
                         roles=self.roles)

    def options(self):
        """The task's options dataclass; ValueError for an option the task does not have or a bad value."""
        return get_task(self.task).make_options(self.task_options)

    def split_options(self, split: str):
        """The options problems of a split are drawn with ("ood": the task derives them from the options)."""
        return split_options(get_task(self.task), split, self.options())

    def has_ood_split(self) -> bool:
        return get_task(self.task).ood_options(self.options()) is not None


def check_problem_count(name: str, count: int) -> None:
    """UserError unless 0 <= count <= MAX_PROBLEMS: a count beyond that would evaluate for hours."""
    if count > MAX_PROBLEMS:
        raise UserError(f"{name} must be at most {MAX_PROBLEMS:,} (the paper tests on 10,000), got {count:,}")


def config_fields() -> list:
    """The TrainConfig fields that are command-line options; task options come from the task."""
    return [f for f in fields(TrainConfig) if f.name != "task_options"]
