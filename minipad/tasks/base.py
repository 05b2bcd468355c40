"""What every task provides, and all a new task has to write. Read this file and one task beside it.

A task turns a *problem* (two numbers to add, a polynomial and its x) into an ``Example``: the input the
model reads and the target it must write, in one of two formats:

  * ``direct``: the target is the answer alone;
  * ``scratchpad``: the target is ``<scratch>``, one line per intermediate step, ``</scratch>``, then the
    answer.

The model is trained on ``input + "\\n" + target`` followed by the end-of-text token, with the loss
counted on the target (and end-of-text) tokens only.

A task's checker reads any target text, the generator's or a model's, and returns a ``Verdict``: correct,
or the first wrong step (which line, what kind of mistake, what was expected and what was written), or
malformed with where reading failed. It never raises.

Adding a task (say ``sorting``) is one module here and one entry in ``TASKS`` (tasks/__init__.py):

    @dataclass(frozen=True)
    class SortingOptions:                       # every field becomes a command-line option: --max-items
        max_items: int = option(6, "most numbers in a list")

        def __post_init__(self):                # refuse values that cannot work, with ValueError
            if not 1 <= self.max_items <= 20:
                raise ValueError(f"--max-items must lie in 1..20, got {self.max_items}")

    class Sorting(Task):
        name = "sorting"                        # --task sorting
        Options = SortingOptions
        size_name = "items"                     # the first column of its accuracy tables
        example_input = "3 1 2"                 # shown in the help of data --problem and sample
        verdict_kinds = (CORRECT, WRONG_COPY, WRONG_TOTAL, MALFORMED)   # the error columns of its tables
        structural_tokens = (SCRATCH_OPEN, SCRATCH_CLOSE, "sorted: ")   # strings its lines repeat: one token each

        def ood_options(self, options):         # optional: longer lists than training saw
            return replace(options, max_items=options.max_items + 2)
        ...and the methods below that say NotImplementedError.

Training, evaluation and the command line ask the task for everything that differs from task to task;
none of them knows a task by name (tests/test_task_names.py checks this).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

FORMATS = ("direct", "scratchpad")
SCRATCH_OPEN = "<scratch>"
SCRATCH_CLOSE = "</scratch>"

# Kinds of verdict that several checkers return; a task may name kinds of its own (addition: "wrong carry").
CORRECT = "correct"
WRONG_DIGIT = "wrong digit"      # a newly computed digit (or term value) is wrong
WRONG_COPY = "wrong copy"        # something that should be copied (operands, earlier digits, a term) changed
WRONG_TOTAL = "wrong total"      # the total (or the answer) does not follow from the steps
MALFORMED = "malformed"          # the text cannot be read as the format

# The structural tokens (see minipad/tokenizer.py) of the two arithmetic tasks. Both use all of them, in
# this order, so that their vocabulary is the one every checkpoint so far was trained with; a new task
# declares only the strings its own format repeats.
ARITHMETIC_TOKENS = (
    "<scratch>", "</scratch>", " + ", " - ", " , ", ", ", " C: ", ": ", "total: ",
    "Evaluate ", " at x = ", "*x**", "*x",
)


def option(default, help: str):
    """A dataclass field that is a command-line option: its default, and the help the option shows (a task's
    options, and TrainConfig's settings)."""
    return field(default=default, metadata={"help": help})


def option_flag(name: str) -> str:
    """The command-line spelling of an option: max_digits -> --max-digits."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Example:
    """One training or test example: what the model reads and what it must write."""
    input: str     # e.g. "2 9 + 5 7"
    target: str    # e.g. "8 6" (direct) or "<scratch>\n...\n</scratch>\n8 6" (scratchpad)
    answer: str    # the answer alone, as the target ends with it
    size: int      # what accuracy tables group by, named by Task.size_name (addition: digits of the longer operand)


@dataclass(frozen=True)
class Verdict:
    """The checker's judgement of one target text.

    ``line`` is the 1-based line of the target where the first mistake (or the reading failure) is;
    ``expected`` and ``written`` show that line's text as it should be and as it is.
    """
    kind: str
    line: int | None = None
    expected: str | None = None
    written: str | None = None
    message: str = ""

    @property
    def correct(self) -> bool:
        return self.kind == CORRECT

    def describe(self) -> str:
        """One human-readable line, e.g. 'wrong carry at line 3: ... (expected '...', wrote '...')'."""
        if self.correct:
            return "correct"
        where = f" at line {self.line}" if self.line is not None else ""
        text = f"{self.kind}{where}"
        if self.message:
            text += f": {self.message}"
        shown = [f"{name} {value!r}" for name, value in (("expected", self.expected), ("wrote", self.written))
                 if value is not None]
        if shown:
            text += f" ({', '.join(shown)})"
        return text


def split_scratchpad(target: str) -> tuple[list[str], str] | Verdict:
    """Split a scratchpad target into its step lines and the answer after ``</scratch>``.

    Returns a MALFORMED verdict instead when the block is not there.
    """
    lines = target.split("\n")
    if not lines or lines[0] != SCRATCH_OPEN:
        return Verdict(MALFORMED, 1, SCRATCH_OPEN, lines[0] if lines else "",
                       "a scratchpad starts with <scratch> on a line of its own")
    if SCRATCH_CLOSE not in lines:
        return Verdict(MALFORMED, len(lines), SCRATCH_CLOSE, lines[-1], "the scratchpad is never closed")
    close = lines.index(SCRATCH_CLOSE)
    after = lines[close + 1:]
    if len(after) != 1:
        return Verdict(MALFORMED, close + 2, "<the answer on one line>", "\n".join(after),
                       "exactly one answer line follows </scratch>")
    return lines[1:close], after[0]


@dataclass(frozen=True)
class NoOptions:
    """The options of a task that has none."""


class Task:
    """Interface of a task: the attributes say what it is, the methods make and check its examples.

    Options: a task's sampling options are one frozen dataclass (``Options``), defaults and help in its
    fields (use ``option``), validation in its ``__post_init__`` (ValueError). The command line offers
    each field as an option (``max_digits`` -> ``--max-digits``), refuses one that the chosen task does
    not have, prints them with the run's config and saves them in its checkpoints.

    Splits: "train" and "test" draw with the training options (data.py keeps their problems apart);
    "ood" draws with ``ood_options(training options)``, the one place that says what lies beyond.
    """

    name: str = ""                     # what --task says; the key in TASKS
    Options: type = NoOptions          # the options dataclass (see above)
    size_name: str = "size"            # what Example.size counts: the first column of accuracy tables
    example_input: str = ""            # a problem as a user types it, shown in the help of --problem
    verdict_kinds: tuple[str, ...] = (CORRECT, MALFORMED)   # every kind its checker returns: the table columns
    structural_tokens: tuple[str, ...] = (SCRATCH_OPEN, SCRATCH_CLOSE)   # strings that are one token each
    spaced_digits: bool = False        # digits written "2 9" but tokenized without the space (tokenizer.py)
    quick_options: dict = {}           # option values of train --quick: problems small enough for a first taste

    # ------------------------------------------------------------------------------ to implement
    def sample_problem(self, rng, options) -> Any:
        """Draw one problem with ``rng`` (a numpy Generator) from the distribution ``options`` describe."""
        raise NotImplementedError

    def longest_problem(self, options):
        """The problem with the longest text under ``options`` (to check that it fits the model)."""
        raise NotImplementedError

    def problem_key(self, problem) -> str:
        """A canonical string naming the problem: decides its train/test side (minipad/data.py)."""
        raise NotImplementedError

    def render(self, problem, format: str, comments: bool = False) -> Example:
        """The problem as an example in ``format`` (one of FORMATS); ``comments`` adds reader comments
        to the scratchpad lines, for display only (never for training)."""
        raise NotImplementedError

    def check(self, input_text: str, target: str, format: str = "scratchpad") -> Verdict:
        """Verify a target step by step against the input (a direct target: its answer). Never raises."""
        raise NotImplementedError

    def parse_input(self, text: str):
        """Read a problem typed by a user (lenient spacing); raise ValueError if it is not one."""
        raise NotImplementedError

    # ------------------------------------------------------------------ to override if it applies
    def ood_options(self, options):
        """The options of the out-of-distribution split of a model trained with ``options``, or None when
        the task has no such split (the default)."""
        return None

    def tokenizer(self):
        """The tokenizer for this task's text: its structural tokens, then characters (tokenizer.py)."""
        from ..tokenizer import Tokenizer
        return Tokenizer(structural_tokens=self.structural_tokens, spaced_digits=self.spaced_digits)

    def ood_option_sets(self, options) -> list:
        """The options of each out-of-distribution set to evaluate (a task may test several sizes apart);
        by default the one ``ood_options`` gives, or none."""
        beyond = self.ood_options(options)
        return [] if beyond is None else [beyond]

    def layout_reader(self, input_text: str, format: str):
        """A LayoutReader for one sequence (the prompt of ``input_text`` then a target in ``format``),
        telling the digit place, step line, slot and role of every token (minipad/positions.py turns them
        into what the model sees); None (the default) when the task does not say, and the model then sees
        plain positions only."""
        return None

    # ------------------------------------------------------------------------------- provided
    @property
    def error_kinds(self) -> tuple[str, ...]:
        """The verdict kinds that are mistakes, in table order."""
        return tuple(kind for kind in self.verdict_kinds if kind != CORRECT)

    def option_names(self) -> list[str]:
        return [option_field.name for option_field in fields(self.Options)]

    def make_options(self, values: dict | None = None):
        """``Options`` from a dict of values (missing ones take their defaults); ValueError naming the
        options this task takes if a value is for an option it does not have, or is out of range."""
        values = dict(values or {})
        unknown = [name for name in values if name not in self.option_names()]
        if unknown:
            takes = ", ".join(option_flag(name) for name in self.option_names()) or "none"
            raise ValueError(f"the {self.name} task has no option {option_flag(unknown[0])} "
                             f"(its options: {takes})")
        return self.Options(**values)

    def split_options(self, split: str, options):
        """The options problems of ``split`` are drawn with: the training options for "train" and
        "test", ``ood_options`` of them for "ood" (ValueError if the task has no such split)."""
        if split != "ood":
            return options
        beyond = self.ood_options(options)
        if beyond is None:
            raise ValueError(f"the {self.name} task has no out-of-distribution split")
        return beyond


def mark_lines(written: str, verdict) -> str:
    """The written text with the first wrong line marked and what was expected shown under it."""
    lines = written.split("\n")
    marked = []
    for number, line in enumerate(lines, start=1):
        if verdict.line == number and not verdict.correct:
            marked.append(f"{line}    <-- {verdict.kind}")
            if verdict.expected is not None:
                marked.append(f"{' ' * max(0, len(line) - len(verdict.expected))}{verdict.expected}    "
                              f"<-- expected")
        else:
            marked.append(line)
    return "\n".join(marked)


def answer_of(target: str) -> str:
    """The answer a target ends with: its last line (for both formats)."""
    return target.rsplit("\n", 1)[-1]


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    return format


class TokenSpot(NamedTuple):
    """Where one token sits in the structure of its text, as a task reads it (see Task.layout_reader).

    place: the digit's place in its number, counted from the units digit (1 = units, 2 = tens, ...);
           0 for a token that is not a digit of a number.
    line:  the step the token belongs to (0 = the prompt); a step line may read its own and the step before.
    slot:  the token's column inside its step: tokens that play the same part on every step (the tens
           digit of the first operand, say) get the same slot, whatever the numbers' digit counts.
    role:  which part of the text the token is in (the task numbers them from 1, e.g. first operand,
           carry, final line, answer; 0 for anything else), so a token knows what it is writing.
    """
    place: int
    line: int
    slot: int
    role: int = 0


class LayoutReader:
    """Reads a sequence token by token and says where each sits (a TokenSpot), using only what came
    before it: the same reader serves training (on the whole text) and decoding (on the text so far).
    Tasks that say nothing about their layout return None from Task.layout_reader.

    line_stride: more than the largest slot; a coupled position is line * line_stride + slot.
    roles: more than the largest role."""

    line_stride: int = 1
    roles: int = 1

    def read(self, token: str) -> TokenSpot:
        raise NotImplementedError

    def read_all(self, tokens: list[str]) -> list[TokenSpot]:
        """The spots of several tokens in a row (a reader may compute them faster than one by one)."""
        return [self.read(token) for token in tokens]
