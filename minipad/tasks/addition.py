"""Long addition, written as the paper's Figure 2 writes it.

The scratchpad runs the school method as a machine state, one line per step:

    2 9 + 5 7 ,  C: 0      the digits still to add of each number, a comma, the result so far, the carry
    2 + 5 , 6 C: 1         took the last digits: 9 + 7 + 0 = 16, so result digit 6 and carry 1
    , 8 6 C: 0             2 + 5 + 1 = 8, carry 0; no digits remain, so the "a + b" part is gone
    0 8 6                  the final carry followed by the result digits

Every step line is ``{a} + {b} , {result} C: {carry}`` with digits separated by spaces; once no digit
remains in either number the line is ``, {result} C: {carry}``.

Operands of different digit counts: the shorter number simply runs out first, and from then on its side of
the ``+`` stays empty while the other side goes on losing its last digit; an empty side is an empty
string inside the template, exactly as the empty result is in the first line (two spaces there):

    1 2 3 + 4 5 ,  C: 0
    1 2 + 4 , 8 C: 0
    1 +  , 6 8 C: 0        ("1 +" then the empty side, then " , ...")
    , 1 6 8 C: 0
    0 1 6 8

In the tokenizer this costs nothing: " + " and " , " are tokens of their own, and the spaces between
digits are dropped (see minipad/tokenizer.py).

Reader comments such as ``# added 9 + 7 = 6 carry 1`` can be shown after each step for people
(``render(..., comments=True)``); they never appear in a training target.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .addition_layout import AdditionLayout
from .base import (
    ARITHMETIC_TOKENS, CORRECT, MALFORMED, SCRATCH_CLOSE, SCRATCH_OPEN, WRONG_COPY, WRONG_DIGIT, WRONG_TOTAL,
    Example, Task, Verdict, check_format, option, split_scratchpad,
)

MAX_DIGITS = 30   # the longest operand this module will write (far beyond any model's block size)
WRONG_CARRY = "wrong carry"   # the carry written is not the one the step produces

_STEP_LINE = re.compile(
    r"^(?:(?P<a>[0-9](?: [0-9])*)? \+ (?P<b>[0-9](?: [0-9])*)? , |, )"
    r"(?P<result>[0-9](?: [0-9])*)? C: (?P<carry>[0-9]+)$"
)
_DIGITS_LINE = re.compile(r"^[0-9](?: [0-9])*$")
_SUM = re.compile(r"^([0-9]+)\+([0-9]+)$")


def spaced(digits: str) -> str:
    """'086' -> '0 8 6': the paper's one-digit-per-token spelling."""
    return " ".join(digits)


def step_line(a_digits: str, b_digits: str, result: str, carry: int) -> str:
    """One machine state as the paper writes it."""
    if a_digits or b_digits:
        return f"{spaced(a_digits)} + {spaced(b_digits)} , {spaced(result)} C: {carry}"
    return f", {spaced(result)} C: {carry}"


def addition_steps(a: int, b: int) -> list[tuple[str, str, str, int]]:
    """The machine states (a digits left, b digits left, result digits, carry), first to last."""
    a_digits, b_digits, result, carry = str(a), str(b), "", 0
    states = [(a_digits, b_digits, result, carry)]
    while a_digits or b_digits:
        column_sum = int(a_digits[-1:] or 0) + int(b_digits[-1:] or 0) + carry
        result = str(column_sum % 10) + result
        carry = column_sum // 10
        a_digits, b_digits = a_digits[:-1], b_digits[:-1]
        states.append((a_digits, b_digits, result, carry))
    return states


def _comment(previous: tuple[str, str, str, int], state: tuple[str, str, str, int]) -> str:
    a_digit = previous[0][-1:] or "0"
    b_digit = previous[1][-1:] or "0"
    carry_in = f" + {previous[3]}" if previous[3] else ""
    return f"  # added {a_digit} + {b_digit}{carry_in} = {state[2][0]} carry {state[3]}"


def sample_number(rng, digits: int) -> int:
    """A number with exactly ``digits`` digits (leading digit non-zero; 0..9 for one digit)."""
    if digits == 1:
        return int(rng.integers(0, 10))
    leading = int(rng.integers(1, 10))
    rest = "".join(str(d) for d in rng.integers(0, 10, size=digits - 1))
    return int(str(leading) + rest)


@dataclass(frozen=True)
class AdditionOptions:
    min_digits: int = option(1, "fewest digits of an operand")
    max_digits: int = option(8, "most digits of an operand (the paper: 8)")
    longest_digits: int = option(0, "if not 0, one operand has exactly this many digits and the other 1 to "
                                    "that many (instead of the digit range)")
    ood_digits: str = option("", "sizes of the out-of-distribution sets, e.g. 9,10,12,16,20: for each, one "
                                 "operand that long and the other 1 to that long (default: the two sizes "
                                 "beyond max-digits)")

    def __post_init__(self):
        if not 1 <= self.min_digits <= self.max_digits <= MAX_DIGITS:
            raise ValueError(f"digit range {self.min_digits}..{self.max_digits} must satisfy "
                             f"1 <= min <= max <= {MAX_DIGITS}")
        if not 0 <= self.longest_digits <= MAX_DIGITS:
            raise ValueError(f"--longest-digits must lie in 0..{MAX_DIGITS}, got {self.longest_digits}")
        for size in self.ood_sizes():
            if not 1 <= size <= MAX_DIGITS:
                raise ValueError(f"--ood-digits sizes must lie in 1..{MAX_DIGITS}, got {size}")

    def ood_sizes(self) -> list[int]:
        """The sizes listed in ood_digits ([] when empty); ValueError if it is not a list of numbers."""
        try:
            return [int(part) for part in self.ood_digits.split(",")] if self.ood_digits else []
        except ValueError:
            raise ValueError(f"--ood-digits takes sizes separated by commas, such as 9,10,12; "
                             f"got {self.ood_digits!r}") from None


class Addition(Task):
    """a + b with each operand's digit count drawn uniformly from [min_digits, max_digits]."""

    name = "addition"
    Options = AdditionOptions
    size_name = "digits"
    example_input = "29+57"
    verdict_kinds = (CORRECT, WRONG_DIGIT, WRONG_CARRY, WRONG_COPY, WRONG_TOTAL, MALFORMED)
    structural_tokens = ARITHMETIC_TOKENS
    spaced_digits = True
    quick_options = {"max_digits": 3}   # 1-3 digit sums: learnt in about two minutes on a laptop

    def ood_options(self, options: AdditionOptions) -> AdditionOptions:
        """Operands of the two digit counts just beyond training: 9 and 10 digits for the paper's 1-8 (or
        the range of the sizes in ood_digits)."""
        sizes = options.ood_sizes()
        low, high = (min(sizes), max(sizes)) if sizes else (options.max_digits + 1, options.max_digits + 2)
        return replace(options, min_digits=low, max_digits=high, longest_digits=0, ood_digits="")

    def ood_option_sets(self, options: AdditionOptions) -> list[AdditionOptions]:
        """One set per size of ood_digits (one operand exactly that long), or the default ood_options."""
        sizes = options.ood_sizes()
        if not sizes:
            return [self.ood_options(options)]
        return [replace(options, longest_digits=size, ood_digits="") for size in sizes]

    def sample_problem(self, rng, options: AdditionOptions) -> tuple[int, int]:
        if options.longest_digits:   # one operand exactly that long, the other 1..that long, either side
            longest = options.longest_digits
            long_number = sample_number(rng, longest)
            other = sample_number(rng, int(rng.integers(1, longest + 1)))
            return (long_number, other) if rng.integers(0, 2) == 0 else (other, long_number)
        a_digits = int(rng.integers(options.min_digits, options.max_digits + 1))
        b_digits = int(rng.integers(options.min_digits, options.max_digits + 1))
        return sample_number(rng, a_digits), sample_number(rng, b_digits)

    def longest_problem(self, options: AdditionOptions) -> tuple[int, int]:
        largest = 10 ** (options.longest_digits or options.max_digits) - 1
        return largest, largest

    def problem_key(self, problem) -> str:
        a, b = problem
        return f"{a}+{b}"

    def render(self, problem, format: str, comments: bool = False) -> Example:
        check_format(format)
        a, b = problem
        input_text = f"{spaced(str(a))} + {spaced(str(b))}"
        answer = spaced(str(a + b))
        digits = max(len(str(a)), len(str(b)))
        if format == "direct":
            return Example(input_text, answer, answer, digits)
        states = addition_steps(a, b)
        lines = [SCRATCH_OPEN]
        for index, state in enumerate(states):
            line = step_line(*state)
            if comments and index > 0:
                line += _comment(states[index - 1], state)
            lines.append(line)
        final_carry, final_result = states[-1][3], states[-1][2]
        lines += [spaced(str(final_carry) + final_result), SCRATCH_CLOSE, answer]
        return Example(input_text, "\n".join(lines), answer, digits)

    def parse_input(self, text: str) -> tuple[int, int]:
        """Read '29+57', '29 + 57' or the paper's '2 9 + 5 7'."""
        match = _SUM.match(text.replace(" ", ""))
        if not match and re.fullmatch(r"-?\d+\+-?\d+", text.replace(" ", "")):   # a minus sign
            raise ValueError(f"{text!r}: addition takes whole numbers, not negative ones, e.g. 29+57")
        if not match:
            raise ValueError(f"{text!r} is not a sum of two whole numbers such as 29+57")
        a_text, b_text = match.groups()
        for operand in (a_text, b_text):
            if len(operand) > 1 and operand[0] == "0":
                raise ValueError(f"{operand!r} has a leading zero: write numbers without one")
            if len(operand) > MAX_DIGITS:
                raise ValueError(f"{operand!r} has more than {MAX_DIGITS} digits")
        return int(a_text), int(b_text)

    def layout_reader(self, input_text: str, format: str) -> AdditionLayout:
        """Columns, lines, slots and roles of the sum's tokens: see minipad/tasks/addition_layout.py."""
        return AdditionLayout.for_input(input_text, scratchpad=format == "scratchpad")

    def check(self, input_text: str, target: str, format: str = "scratchpad") -> Verdict:
        """Verify ``target`` against the sum in ``input_text`` step by step; the first mistake wins.

        Line numbers count the target's lines from 1 (line 1 is ``<scratch>``).
        """
        try:
            a, b = self.parse_input(input_text)
        except ValueError as error:
            return Verdict(MALFORMED, None, None, input_text, f"input unreadable: {error}")
        answer = spaced(str(a + b))
        if format == "direct":
            return _check_answer(target, answer, 1)
        parts = split_scratchpad(target)
        if isinstance(parts, Verdict):
            return parts
        lines, written_answer = parts
        states = addition_steps(a, b)
        for index, state in enumerate(states):
            line_number = index + 2
            expected = step_line(*state)
            if index >= len(lines):
                return Verdict(MALFORMED, line_number, expected, SCRATCH_CLOSE,
                               "the scratchpad stops before the digits run out")
            verdict = _check_step(lines[index], expected, state, states[index - 1] if index else None,
                                  line_number)
            if verdict is not None:
                return verdict
        final_index = len(states)
        final_line_number = final_index + 2
        final_carry, final_result = states[-1][3], states[-1][2]
        expected_final = spaced(str(final_carry) + final_result)
        if final_index >= len(lines):
            return Verdict(MALFORMED, final_line_number, expected_final, SCRATCH_CLOSE,
                           "the final line (carry, then result digits) is missing")
        written_final = lines[final_index]
        if written_final != expected_final:
            if not _DIGITS_LINE.match(written_final):
                return Verdict(MALFORMED, final_line_number, expected_final, written_final,
                               "the final line holds the carry and the result digits only")
            if written_final[0] != expected_final[0]:
                return Verdict(WRONG_CARRY, final_line_number, expected_final, written_final,
                               "the final line starts with the last carry")
            return Verdict(WRONG_COPY, final_line_number, expected_final, written_final,
                           "the final line repeats the result digits")
        if final_index + 1 != len(lines):
            return Verdict(MALFORMED, final_line_number + 1, SCRATCH_CLOSE, lines[final_index + 1],
                           "the scratchpad goes on after its final line")
        return _check_answer(written_answer, answer, len(lines) + 3)


def _check_step(written: str, expected: str, state, previous, line_number: int) -> Verdict | None:
    """Compare one written step line with the state it should hold; None when it is right."""
    if written == expected:
        return None
    match = _STEP_LINE.match(written)
    if not match:
        return Verdict(MALFORMED, line_number, expected, written, "not a step line 'a + b , result C: carry'")
    a_written = (match["a"] or "").replace(" ", "")
    b_written = (match["b"] or "").replace(" ", "")
    result_written = (match["result"] or "").replace(" ", "")
    carry_written = match["carry"]
    a_expected, b_expected, result_expected, carry_expected = state
    if (a_written, b_written) != (a_expected, b_expected):
        what = "the input's digits" if previous is None else "the remaining digits"
        return Verdict(WRONG_COPY, line_number, expected, written, f"{what} are not copied right")
    if result_written != result_expected:
        copied = previous[2] if previous is not None else ""
        new_digit_only = len(result_written) == len(result_expected) and result_written[1:] == copied
        if new_digit_only:
            return Verdict(WRONG_DIGIT, line_number, expected, written,
                           f"the new result digit should be {result_expected[0]}")
        return Verdict(WRONG_COPY, line_number, expected, written, "the earlier result digits are not copied right")
    if carry_written != str(carry_expected):
        return Verdict(WRONG_CARRY, line_number, expected, written, f"the carry should be {carry_expected}")
    return Verdict(MALFORMED, line_number, expected, written, "the right state, but not written in the format")


def _check_answer(written: str, expected: str, line_number: int) -> Verdict:
    if written == expected:
        return Verdict(CORRECT)
    if not _DIGITS_LINE.match(written):
        return Verdict(MALFORMED, line_number, expected, written, "the answer is digits separated by spaces")
    return Verdict(WRONG_TOTAL, line_number, expected, written, "the answer does not agree with the sum")
