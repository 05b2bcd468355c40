"""Evaluating polynomials, in the paper's format.

    input:   Evaluate -7*x**2 + 7*x + 5 at x = 1
    target:  <scratch>
             -7*x**2: -7          one line per term: the term as written, then its value at x
             7*x: 7
             5: 5
             </scratch>
             total: 5

Problems: 1 to 3 terms of distinct powers 0..3 in falling order (so degree at most 3), integer
coefficients from -10 to 10 (never 0: a zero term says nothing), an integer x from -10 to 10. A problem
is kept only if every term's value and the total lie within -1000..1000 (BOUND); others are drawn again.

Writing rules (minipad's choice; the paper shows one example): a coefficient is always written, 1 and -1
included (``1*x``, not ``x``); a later term with a negative coefficient is joined with `` - `` and its
absolute value (``x**2 - 3*x``), while its scratchpad line names the signed term (``-3*x: -6``).
Reader comments (``render(..., comments=True)``) show the arithmetic of each term, for display only.
The direct format's target is the answer line alone, ``total: 5``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .base import (
    ARITHMETIC_TOKENS, CORRECT, MALFORMED, SCRATCH_CLOSE, SCRATCH_OPEN, WRONG_COPY, WRONG_DIGIT, WRONG_TOTAL,
    Example, Task, Verdict, check_format, option, split_scratchpad,
)

BOUND = 1000
MAX_TERMS = 3
MAX_POWER = 3
COEFFICIENT_RANGE = 10
X_RANGE = 10

_INPUT = re.compile(r"^Evaluate (?P<polynomial>.+) at x = (?P<x>-?[0-9]+)$")
_TERM = re.compile(r"^(?P<coefficient>-?[0-9]+)(?P<x>\*x(?:\*\*(?P<power>[0-9]+))?)?$")
_TERM_LINE = re.compile(r"^(?P<term>.+): (?P<value>-?[0-9]+)$")
_TOTAL_LINE = re.compile(r"^total: (?P<value>-?[0-9]+)$")

Term = tuple[int, int]   # (coefficient, power)


def term_text(coefficient: int, power: int) -> str:
    """(-7, 2) -> '-7*x**2'; (7, 1) -> '7*x'; (5, 0) -> '5'."""
    if power == 0:
        return f"{coefficient}"
    if power == 1:
        return f"{coefficient}*x"
    return f"{coefficient}*x**{power}"


def term_values(terms: tuple[Term, ...], x: int) -> list[int]:
    """Each term's value at x: coefficient * x**power."""
    return [coefficient * x ** power for coefficient, power in terms]


def polynomial_text(terms: tuple[Term, ...]) -> str:
    """Terms joined as a person writes them: '-7*x**2 + 7*x - 5'."""
    text = term_text(*terms[0])
    for coefficient, power in terms[1:]:
        sign = " + " if coefficient > 0 else " - "
        text += sign + term_text(abs(coefficient), power)
    return text


def parse_polynomial(text: str) -> tuple[Term, ...]:
    """Inverse of polynomial_text; raises ValueError on anything else."""
    pieces = re.split(r" ([+-]) ", text)
    signs = ["+"] + pieces[1::2]
    terms = []
    for sign, piece in zip(signs, pieces[0::2]):
        match = _TERM.match(piece)
        if not match:
            raise ValueError(f"{piece!r} is not a term such as -7*x**2, 7*x or 5")
        coefficient = int(match["coefficient"])
        power = 0 if not match["x"] else int(match["power"] or 1)
        terms.append((-coefficient if sign == "-" else coefficient, power))
    return tuple(terms)


@dataclass(frozen=True)
class PolynomialOptions:
    max_terms: int = option(MAX_TERMS, f"most terms of a polynomial (1 to {MAX_TERMS})")

    def __post_init__(self):
        if not 1 <= self.max_terms <= MAX_TERMS:
            raise ValueError(f"--max-terms must lie in 1..{MAX_TERMS}, got {self.max_terms}")


class Polynomial(Task):
    """Evaluate a polynomial of at most three terms at an integer x. No out-of-distribution split."""

    name = "polynomial"
    Options = PolynomialOptions
    size_name = "terms"
    example_input = "Evaluate -7*x**2 + 7*x + 5 at x = 1"
    verdict_kinds = (CORRECT, WRONG_DIGIT, WRONG_COPY, WRONG_TOTAL, MALFORMED)
    structural_tokens = ARITHMETIC_TOKENS
    spaced_digits = False

    def sample_problem(self, rng, options: PolynomialOptions) -> tuple[tuple[Term, ...], int]:
        nonzero = [c for c in range(-COEFFICIENT_RANGE, COEFFICIENT_RANGE + 1) if c != 0]
        while True:
            n_terms = int(rng.integers(1, options.max_terms + 1))
            powers = sorted(rng.choice(MAX_POWER + 1, size=n_terms, replace=False).tolist(), reverse=True)
            terms = tuple((int(rng.choice(nonzero)), int(power)) for power in powers)
            x = int(rng.integers(-X_RANGE, X_RANGE + 1))
            values = term_values(terms, x)
            if all(abs(v) <= BOUND for v in values) and abs(sum(values)) <= BOUND:
                return terms, x

    def longest_problem(self, options: PolynomialOptions):
        """Longer than any drawn problem: every number as long as it can be (values ignore the bound)."""
        terms = tuple((-COEFFICIENT_RANGE, power)
                      for power in range(MAX_POWER, MAX_POWER - options.max_terms, -1))
        return terms, -X_RANGE

    def problem_key(self, problem) -> str:
        terms, x = problem
        return f"{polynomial_text(terms)}@{x}"

    def render(self, problem, format: str, comments: bool = False) -> Example:
        check_format(format)
        terms, x = problem
        input_text = f"Evaluate {polynomial_text(terms)} at x = {x}"
        values = term_values(terms, x)
        answer = f"total: {sum(values)}"
        if format == "direct":
            return Example(input_text, answer, answer, len(terms))
        lines = [SCRATCH_OPEN]
        for (c, p), value in zip(terms, values):
            line = f"{term_text(c, p)}: {value}"
            if comments and p > 0:
                power = "" if p == 1 else f"**{p}"
                line += f"  # {c} * ({x}){power} = {value}"
            lines.append(line)
        lines += [SCRATCH_CLOSE, answer]
        return Example(input_text, "\n".join(lines), answer, len(terms))

    def parse_input(self, text: str) -> tuple[tuple[Term, ...], int]:
        """Read 'Evaluate -7*x**2 + 7*x + 5 at x = 1'."""
        match = _INPUT.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not of the form 'Evaluate -7*x**2 + 7*x + 5 at x = 1'")
        terms = parse_polynomial(match["polynomial"])
        powers = [power for _, power in terms]
        if any(coefficient == 0 for coefficient, _ in terms):
            raise ValueError("leave out terms whose coefficient is 0")
        if len(terms) > MAX_TERMS or powers != sorted(set(powers), reverse=True) or max(powers) > MAX_POWER:
            raise ValueError(f"write at most {MAX_TERMS} terms of distinct powers 0..{MAX_POWER}, highest first")
        return terms, int(match["x"])

    def check(self, input_text: str, target: str, format: str = "scratchpad") -> Verdict:
        """Verify every term's value and the total against the input; the first mistake wins."""
        try:
            terms, x = self.parse_input(input_text)
        except ValueError as error:
            return Verdict(MALFORMED, None, None, input_text, f"input unreadable: {error}")
        if format == "direct":
            total = sum(term_values(terms, x))
            return _check_total(target, total, 1)
        parts = split_scratchpad(target)
        if isinstance(parts, Verdict):
            return parts
        lines, answer_line = parts
        for index, ((coefficient, power), value) in enumerate(zip(terms, term_values(terms, x))):
            line_number = index + 2
            expected = f"{term_text(coefficient, power)}: {value}"
            if index >= len(lines):
                return Verdict(MALFORMED, line_number, expected, SCRATCH_CLOSE, "a term's line is missing")
            written = lines[index]
            if written == expected:
                continue
            match = _TERM_LINE.match(written)
            if not match:
                return Verdict(MALFORMED, line_number, expected, written, "not a line 'term: value'")
            if match["term"] != term_text(coefficient, power):
                return Verdict(WRONG_COPY, line_number, expected, written,
                               "the term is not copied from the input")
            return Verdict(WRONG_DIGIT, line_number, expected, written,
                           f"{term_text(coefficient, power)} at x = {x} is {value}")
        if len(lines) > len(terms):
            return Verdict(MALFORMED, len(terms) + 2, SCRATCH_CLOSE, lines[len(terms)],
                           "more lines than the polynomial has terms")
        total = sum(term_values(terms, x))
        return _check_total(answer_line, total, len(lines) + 3)


def _check_total(written: str, total: int, line_number: int) -> Verdict:
    expected = f"total: {total}"
    if written == expected:
        return Verdict(CORRECT)
    if not _TOTAL_LINE.match(written):
        return Verdict(MALFORMED, line_number, expected, written, "the answer line is 'total: <number>'")
    return Verdict(WRONG_TOTAL, line_number, expected, written, "the total is not the sum of the term values")
