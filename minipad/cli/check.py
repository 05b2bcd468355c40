"""minipad check: the task's checker reads a target and names its first wrong step (exit status 0 if it is
right, 1 if not), so a scratchpad can be checked by hand or piped in from 'data --problem'."""
from __future__ import annotations

import sys

from ..errors import UserError
from ..tasks import get_task
from .options import add_task_and_format_arguments, problem_text

SUMMARY = "read a target (from an argument or standard input) and name its first wrong step"


def add_arguments(parser) -> None:
    add_task_and_format_arguments(parser)
    parser.add_argument("input", help="the problem as the model read it, e.g. '2 9 + 5 7', or @path to read it "
                                      "from a file")
    parser.add_argument("target", nargs="?", default=None,
                        help="the text written for it; read from standard input when left out, where a "
                             "first line equal to the problem is skipped, so the output of "
                             "'data --problem' can be piped in")


def run(args) -> int:
    """Print the checker's verdict on one target; exit status 0 if correct, 1 if not."""
    task = get_task(args.task)
    input_text = problem_text(args.input)
    try:
        task.parse_input(input_text)
    except ValueError as error:
        raise UserError(str(error)) from None
    target = args.target if args.target is not None else read_target(task, input_text)
    verdict = task.check(input_text, target, args.format)
    print(verdict.describe())
    return 0 if verdict.correct else 1


def read_target(task, input_text: str) -> str:
    """The target from standard input; first lines that are the problem itself (as 'data --problem'
    prints it: one line, or several for a program) are skipped. On a terminal, say what is awaited instead
    of waiting in silence."""
    if sys.stdin is None:
        raise UserError("no target given and no standard input to read it from: give it as the second argument")
    if sys.stdin.isatty():
        print("reading the target from standard input: type or paste it, then Ctrl-D on a line of its own "
              "(or give it as the second argument)", file=sys.stderr)
    lines = sys.stdin.read().rstrip("\n").split("\n")
    return "\n".join(lines[_problem_lines(task, lines, input_text):])


def _problem_lines(task, lines: list[str], input_text: str) -> int:
    """How many first ``lines`` are the problem of ``input_text`` as 'data --problem' prints it (0: none)."""
    try:
        problem = task.parse_input(input_text)
        count = task.render(problem, "direct").input.count("\n") + 1
        same = len(lines) > count and task.parse_input("\n".join(lines[:count])) == problem
    except ValueError:
        return 0
    return count if same else 0
