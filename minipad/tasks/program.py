"""Running small Python programs, traced line by line, in the paper's format.

    input:   def f(a, b):             target:  <scratch>
               c = 0                           state: {}
               while a > 0:                    line: def f(a, b):
                 c += b                        state: {"f": "<callable_object f>"}
                 a -= 1                        line: output = f(2, 3)
               return c                        state: {"a": 2, "b": 3}
             output = f(2, 3)                  line:   c = 0
                                               state: {"a": 2, "b": 3, "c": 0}
                                               line:   while a > 0:
                                               ...  (the loop unrolled: every line as it runs)
                                               line:   return c
                                               state: {"f": "<callable_object f>", "output": 6}
                                               </scratch>
                                               output: 6

The trace is made by running the program (minipad/tasks/tracer.py): ``state:`` shows the variables of the
running frame just before the next ``line:`` runs, as JSON in the order Python keeps them (parameters
first, then the others in the order they appear in the function); a function is written
``"<callable_object f>"``. The last state is the program's own, after the call, holding ``output``. The
direct format's target is the answer line alone, ``output: 6``.

The grammar (what ``parse_input`` accepts; anything else is refused by name):

    program    := "def f(" names "):" block "output = f(" integers ")"
    statement  := name "=" atom | name ("+=" | "-=" | "*=") atom
                | "if" comparison ":" block ["else:" block] | "while" comparison ":" block
    comparison := atom ("<" | ">" | "<=" | ">=" | "==" | "!=") atom
    atom       := name | integer
    the function ends with "return" atom, and returns nowhere else.

Programs are written in one layout, two spaces per indent (the paper's); a program typed in another
layout is rewritten into it. Any program runs at most STEP_LIMIT lines with values within VALUE_LIMIT.

What the generator draws (much less than the grammar allows, so that a tiny model can learn it):
  * 2 or 3 variables named a, b, c; the first 1 to 3 of them are parameters, called with 0..9, and the
    others are set to 0..9 as the function's first lines;
  * 1 to 3 statements more: assignments, at most one ``if`` (with an ``else`` half the time) and at most
    one ``while`` (in 9 programs of 10; an ``if`` may sit in the loop). An ``if`` or ``else`` holds one
    assignment; a loop holds one assignment or the ``if``, then steps its counter by one
    (``while a > 0:`` ... ``a -= 1`` or ``while a < 4:`` ... ``a += 1``), which nothing else in the loop
    changes. Literals 0..9; multipliers 2 and 3;
  * every value at every step stays within -BOUND..BOUND; a program that raises, leaves the bound or runs
    more or fewer lines than its split asks is drawn again, and so are three in four of those whose loop
    never runs (they teach little).
Size, for the accuracy tables: the number of lines the program runs (the ``line:`` entries of its trace).
Training and test programs run --min-lines to --max-lines lines (by default 4 to 16: loops run at most
4 times); out-of-distribution ones run longer, the next OOD_EXTRA_LINES sizes (17 to 22 lines): the same
statements, longer loops.
With minipad's tokenizer and the task's TOKENS, a training sequence (program, trace, answer) takes 85 to
about 360 tokens (median about 180); out of distribution about 280 to 480 (median about 360).
"""
from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, replace

from .base import (
    CORRECT, MALFORMED, SCRATCH_CLOSE, SCRATCH_OPEN, WRONG_COPY, Example, Task, Verdict, check_format, option,
    split_scratchpad,
)
from .tracer import CALLABLE, FUNCTION, STEP_LIMIT, VALUE_LIMIT, ProgramRun, Step, parse_program, run_program

WRONG_LINE = "wrong line"     # a line of the program, but control flow goes elsewhere
WRONG_VALUE = "wrong value"   # a variable that the line changes (or a new one) has the wrong value
VERDICT_KINDS = (CORRECT, WRONG_LINE, WRONG_VALUE, WRONG_COPY, MALFORMED)

BOUND = 99
MIN_LINES, MAX_LINES = 4, 36     # the shortest program the generator writes; the longest it is asked for
OOD_EXTRA_LINES = 6              # out of distribution: programs that run up to this many lines more
NAMES = "abc"
LOOP_SHARE, IF_SHARE = 0.9, 0.5   # how often the generator writes a loop, an if
IDLE_LOOP_SHARE = 0.25            # the share of programs whose loop never runs that are kept
COMPARISONS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge, "==": operator.eq,
               "!=": operator.ne}

STATE, LINE, ANSWER = "state: ", "line: ", "output: "
# Strings the trace repeats on every line, one token each (the vocabulary's characters do the rest).
TOKENS = (
    SCRATCH_OPEN, SCRATCH_CLOSE, STATE, LINE, ANSWER, "  ", ", ", '{"', '": ', ', "', '"<callable_object f>"',
    "def f(", "output = f(",
    "while ", "if ", "else:", "return ", " += ", " -= ", " *= ", " = ", " < ", " > ", " <= ", " >= ",
    " == ", " != ",
) + tuple(f'{{"{name}": ' for name in (*NAMES, "f")) + tuple(f', "{name}": ' for name in (*NAMES[1:], "output"))
_ANSWER_LINE = re.compile(r"^output: -?[0-9]+$")


# ------------------------------------------------------------------------------------------ generator
def draw_source(rng) -> str:
    """One program text of the generator's kind (see the module docstring); it may still raise or run long."""
    n_variables = int(rng.integers(2, len(NAMES) + 1))
    n_parameters = int(rng.integers(1, n_variables + 1))
    names = NAMES[:n_variables]
    lines = [f"def f({', '.join(names[:n_parameters])}):"]
    lines += [f"  {name} = {int(rng.integers(0, 10))}" for name in names[n_parameters:]]
    statements = ["assign"] * int(rng.integers(1, 4))
    free = [int(slot) for slot in rng.permutation(len(statements))]
    has_loop, has_if = rng.random() < LOOP_SHARE, rng.random() < IF_SHARE
    if has_loop:
        statements[free.pop()] = "while"
    loop_holds_if = has_if and has_loop and (not free or rng.random() < 0.5)
    if has_if and not loop_holds_if:
        statements[free.pop()] = "if"
    for kind in statements:
        if kind == "while":
            lines += _loop(rng, names, loop_holds_if)
        elif kind == "if":
            lines += _if_else(rng, names, names, depth=1)
        else:
            lines.append("  " + _assignment(rng, names, names))
    lines.append(f"  return {names[int(rng.integers(n_variables))]}")
    arguments = ", ".join(str(int(rng.integers(0, 10))) for _ in range(n_parameters))
    lines.append(f"output = f({arguments})")
    return "\n".join(lines)


def _atom(rng, names: str, other_than: str = "") -> str:
    choices = [name for name in names if name != other_than]
    if choices and rng.random() < 0.4:
        return choices[int(rng.integers(len(choices)))]
    return str(int(rng.integers(0, 10)))


def _assignment(rng, names: str, targets: str) -> str:
    target = targets[int(rng.integers(len(targets)))]
    sign = ("=", "+=", "-=", "*=")[int(rng.integers(4))]
    value = str(int(rng.integers(2, 4))) if sign == "*=" else _atom(rng, names, other_than=target)
    return f"{target} {sign} {value}"


def _comparison(rng, names: str) -> str:
    left = names[int(rng.integers(len(names)))]
    comparison = list(COMPARISONS)[int(rng.integers(len(COMPARISONS)))]
    return f"{left} {comparison} {_atom(rng, names, other_than=left)}"


def _if_else(rng, names: str, targets: str, depth: int) -> list[str]:
    indent = "  " * depth
    lines = [f"{indent}if {_comparison(rng, names)}:", f"{indent}  {_assignment(rng, names, targets)}"]
    if rng.random() < 0.5:
        lines += [f"{indent}else:", f"{indent}  {_assignment(rng, names, targets)}"]
    return lines


def _loop(rng, names: str, holds_if: bool) -> list[str]:
    counter = names[int(rng.integers(len(names)))]
    others = "".join(name for name in names if name != counter)
    if rng.random() < 0.5:
        header, step = f"  while {counter} > 0:", f"    {counter} -= 1"
    else:
        header, step = f"  while {counter} < {int(rng.integers(1, 10))}:", f"    {counter} += 1"
    if holds_if:
        body = _if_else(rng, names, others, depth=2)
    else:
        body = ["    " + _assignment(rng, names, others)]
    return [header] + body + [step]


def sample_program(rng, min_lines: int, max_lines: int) -> ProgramRun:
    """Draw programs until one runs min_lines..max_lines lines with every value within -BOUND..BOUND."""
    while True:
        try:
            run = run_program(draw_source(rng), step_limit=max_lines, value_limit=BOUND)
        except ValueError:
            continue
        if len(run.steps) < min_lines:
            continue
        loop_lines = sum(step.line.lstrip().startswith("while ") for step in run.steps)
        if loop_lines == 1 and rng.random() > IDLE_LOOP_SHARE:
            continue   # a loop whose body never runs teaches little: keep only some
        return run


# ------------------------------------------------------------------------------------------- the trace
def trace_lines(run: ProgramRun, comments: bool = False) -> list[str]:
    """The scratchpad's lines between <scratch> and </scratch>: state, line, state, line, ..., state.

    comments: after each ``if`` and ``while`` line, the comparison with the values it reads (for readers).
    """
    lines = []
    for step in run.steps:
        line = LINE + step.line
        if comments:
            line += _condition_comment(step)
        lines += [STATE + step.state_text, line]
    return lines + [STATE + run.final_state_text]


def _condition_comment(step) -> str:
    """'  # 2 > 0 is True' after 'while a > 0:' run with a = 2; '' after other lines."""
    match = re.match(r"^\s*(?:if|while) (\S+) (\S+) (\S+):$", step.line)
    if not match:
        return ""
    left, comparison, right = (str(step.state.get(word, word)) for word in match.groups())
    return f"  # {left} {comparison} {right} is {COMPARISONS[comparison](int(left), int(right))}"


@dataclass(frozen=True)
class ProgramOptions:
    max_lines: int = option(16, f"most lines a program runs: the line entries of its trace ({MIN_LINES} to "
                                f"{MAX_LINES - OOD_EXTRA_LINES})")
    min_lines: int = option(MIN_LINES, "fewest lines a program runs")

    def __post_init__(self):
        if not MIN_LINES <= self.min_lines <= self.max_lines <= MAX_LINES:
            raise ValueError(f"--min-lines and --max-lines must satisfy {MIN_LINES} <= min <= max <= "
                             f"{MAX_LINES}, got {self.min_lines} and {self.max_lines}")


class Program(Task):
    """Run a small Python function and give its output."""

    name = "program"
    Options = ProgramOptions
    size_name = "lines"
    example_input = "def f(a):\n  b = 0\n  while a > 0:\n    b += 2\n    a -= 1\n  return b\noutput = f(3)"
    verdict_kinds = VERDICT_KINDS
    structural_tokens = TOKENS
    spaced_digits = False
    quick_options = {"max_lines": 8}

    def ood_options(self, options: ProgramOptions) -> ProgramOptions:
        """Programs that run longer than any in training: the next OOD_EXTRA_LINES sizes (lines run)."""
        return replace(options, min_lines=options.max_lines + 1, max_lines=options.max_lines + OOD_EXTRA_LINES)

    def sample_problem(self, rng, options: ProgramOptions) -> ProgramRun:
        return sample_program(rng, options.min_lines, options.max_lines)

    def longest_problem(self, options: ProgramOptions) -> ProgramRun:
        """A bound, not a program that runs: the longest text the generator writes, traced for max_lines
        lines, each with the longest line it writes and three values of three characters (-99)."""
        source = "\n".join(["def f(a):", "  b = 9", "  c = 9", "  while a < 9:", "    if a <= b:", "      c -= a",
                            "    else:", "      c -= a", "    a += 1", "  c -= a", "  c -= a", "  return c",
                            "output = f(9)"])
        module = {"f": CALLABLE}
        steps = [Step("def f(a):", {}, "module"), Step("output = f(9)", module, "module")]
        steps += [Step("    if a <= b:", {"a": -99, "b": -99, "c": -99}, FUNCTION)] * (options.max_lines - 2)
        return ProgramRun(source, tuple(steps), {**module, "output": -99}, -99)

    def problem_key(self, problem: ProgramRun) -> str:
        return problem.source

    def render(self, problem: ProgramRun, format: str, comments: bool = False) -> Example:
        check_format(format)
        answer = ANSWER + str(problem.output)
        size = len(problem.steps)
        if format == "direct":
            return Example(problem.source, answer, answer, size)
        lines = [SCRATCH_OPEN] + trace_lines(problem, comments) + [SCRATCH_CLOSE, answer]
        return Example(problem.source, "\n".join(lines), answer, size)

    def parse_input(self, text: str) -> ProgramRun:
        """Read a program of the grammar (any layout), rewrite it in the trace's layout and run it; raise
        ValueError with one line saying what is wrong (outside the grammar, raises, runs too long)."""
        return run_program(parse_program(text), step_limit=STEP_LIMIT, value_limit=VALUE_LIMIT)

    def check(self, input_text: str, target: str, format: str = "scratchpad") -> Verdict:
        """Replay the program and compare the trace entry by entry; the first mistake wins. Never raises."""
        try:
            run = self.parse_input(input_text)
        except ValueError as error:
            return Verdict(MALFORMED, None, None, input_text, f"input unreadable: {error}")
        answer = ANSWER + str(run.output)
        if format == "direct":
            return _check_answer(target, answer, 1, WRONG_VALUE, "the program's output is another number")
        parts = split_scratchpad(target)
        if isinstance(parts, Verdict):
            return parts
        written_lines, written_answer = parts
        expected_lines = trace_lines(run)
        states = [step.state for step in run.steps] + [run.final_state]
        frames = [step.frame for step in run.steps] + ["module"]
        last_state_of = {}
        for index, expected in enumerate(expected_lines):
            line_number = index + 2
            if index >= len(written_lines):
                return Verdict(MALFORMED, line_number, expected, SCRATCH_CLOSE,
                               "the trace stops before the program ends")
            written = written_lines[index]
            if index % 2 == 0:
                state, frame = states[index // 2], frames[index // 2]
                if written != expected:
                    return _check_state(written, expected, state, last_state_of.get(frame), line_number)
                last_state_of[frame] = state
            elif written != expected:
                return _check_line(written, expected, run, line_number)
        if len(written_lines) > len(expected_lines):
            return Verdict(MALFORMED, len(expected_lines) + 2, SCRATCH_CLOSE, written_lines[len(expected_lines)],
                           "the trace goes on after the program has ended")
        return _check_answer(written_answer, answer, len(written_lines) + 3, WRONG_COPY,
                             "the answer is not the output the trace ends with")


def _same(a, b) -> bool:
    """Equal and of the same type (JSON's true is not the number 1 here)."""
    return type(a) is type(b) and a == b


def _check_state(written: str, expected: str, state: dict, previous: dict | None, line_number: int) -> Verdict:
    """Name what is wrong in a state entry that differs from the expected one."""
    if not written.startswith(STATE):
        return Verdict(MALFORMED, line_number, expected, written, "a state entry starts with 'state: '")
    try:
        variables = json.loads(written[len(STATE):])
    except (ValueError, RecursionError):
        variables = None
    if not isinstance(variables, dict):
        return Verdict(MALFORMED, line_number, expected, written, "the state is not a JSON object")
    for name, value in state.items():
        if name in variables and _same(variables[name], value):
            continue
        if previous is not None and name in previous and _same(previous[name], value):
            return Verdict(WRONG_COPY, line_number, expected, written,
                           f"{name} should still be {json.dumps(value)}: the line did not change it")
        return Verdict(WRONG_VALUE, line_number, expected, written, f"{name} should be {json.dumps(value)}")
    extra = [name for name in variables if name not in state]
    if extra:
        return Verdict(WRONG_COPY, line_number, expected, written, f"{extra[0]!r} is not a variable here")
    return Verdict(MALFORMED, line_number, expected, written,
                   "the right values, but not written as the trace writes JSON (order, spaces)")


def _check_line(written: str, expected: str, run: ProgramRun, line_number: int) -> Verdict:
    """Name what is wrong in a line entry that differs from the expected one."""
    if not written.startswith(LINE):
        return Verdict(MALFORMED, line_number, expected, written, "a line entry starts with 'line: '")
    if written[len(LINE):] in run.source.split("\n"):
        return Verdict(WRONG_LINE, line_number, expected, written, "the program runs another line here")
    return Verdict(WRONG_COPY, line_number, expected, written, "not a line of the program")


def _check_answer(written: str, expected: str, line_number: int, kind: str, message: str) -> Verdict:
    if written == expected:
        return Verdict(CORRECT)
    if not _ANSWER_LINE.match(written):
        return Verdict(MALFORMED, line_number, expected, written, "the answer line is 'output: <number>'")
    return Verdict(kind, line_number, expected, written, message)
