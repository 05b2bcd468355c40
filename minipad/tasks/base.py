"""What every task provides: examples (input text, target text) and a checker for the target's steps.

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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

FORMATS = ("direct", "scratchpad")
SCRATCH_OPEN = "<scratch>"
SCRATCH_CLOSE = "</scratch>"

# The kinds of verdict a checker can return.
CORRECT = "correct"
WRONG_DIGIT = "wrong digit"      # a newly computed digit (or term value) is wrong
WRONG_CARRY = "wrong carry"      # the carry written is not the one the step produces
WRONG_COPY = "wrong copy"        # something that should be copied (operands, earlier digits, a term) changed
WRONG_TOTAL = "wrong total"      # the total (or the answer) does not follow from the steps
MALFORMED = "malformed"          # the text cannot be read as the format
VERDICT_KINDS = (CORRECT, WRONG_DIGIT, WRONG_CARRY, WRONG_COPY, WRONG_TOTAL, MALFORMED)


@dataclass(frozen=True)
class Example:
    """One training or test example: what the model reads and what it must write."""
    input: str     # e.g. "2 9 + 5 7"
    target: str    # e.g. "8 6" (direct) or "<scratch>\n...\n</scratch>\n8 6" (scratchpad)
    answer: str    # the answer alone, as the target ends with it
    length: int    # the size that accuracy tables group by (addition: digits of the longer operand)


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


class Task:
    """Interface of a task. Subclasses set ``name`` and ``spaced_digits`` and implement the methods."""

    name: str = ""
    spaced_digits: bool = False   # how its text is tokenized: see minipad/tokenizer.py

    def split_options(self, split: str) -> dict:
        """Sampling options of a split ("train", "test" or "ood"); ValueError if the task has no such split."""
        raise NotImplementedError

    def sample_problem(self, rng, **options) -> Any:
        """Draw one problem; ``options`` (from ``split_options``) say from which distribution."""
        raise NotImplementedError

    def longest_problem(self, **options):
        """The problem with the longest text under these sampling options (to check it fits the model)."""
        raise NotImplementedError

    def problem_key(self, problem) -> str:
        """A canonical string naming the problem: decides its train/test side (minipad/data.py)."""
        raise NotImplementedError

    def render(self, problem, fmt: str, comments: bool = False) -> Example:
        """The problem as an example in format ``fmt`` (one of FORMATS); ``comments`` adds reader comments
        to the scratchpad lines, for display only (never for training)."""
        raise NotImplementedError

    def check(self, input_text: str, target: str, fmt: str = "scratchpad") -> Verdict:
        """Verify a target step by step against the input (a direct target: its answer). Never raises."""
        raise NotImplementedError

    def parse_input(self, text: str):
        """Read a problem typed by a user (lenient spacing); raise ValueError if it is not one."""
        raise NotImplementedError

    def layout_reader(self, input_text: str, fmt: str):
        """A LayoutReader for one sequence (the prompt of ``input_text`` then a target in ``fmt``), telling
        the digit place, step line and slot of every token; None (the default) when the task does not say,
        and the model then sees plain positions only."""
        return None


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


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return fmt


class TokenSpot(NamedTuple):
    """Where one token sits in the structure of its text, as a task reads it (see Task.layout_reader).

    place: the digit's place in its number, counted from the units digit (1 = units, 2 = tens, ...);
           0 for a token that is not a digit of a number.
    line:  the step the token belongs to (0 = the prompt); a step line may read its own and the step before.
    slot:  the token's column inside its step: tokens that play the same part on every step (the tens
           digit of the first operand, say) get the same slot, whatever the numbers' lengths.
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
