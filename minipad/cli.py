"""The command line: ``python -m minipad <command> --help`` for each command.

Each command is a function that takes the parsed arguments and returns an exit status. A user's mistake
(raised as UserError, or an argparse error) prints one line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from .errors import UserError

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line: 'minipad data: error: ...'."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``, with a one-line complaint otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


positive_int = whole_number(1)
non_negative_int = whole_number(0)


def writable_file(path: str) -> str:
    """A path whose folder exists (nothing is created behind the user's back) and that is not a folder."""
    if os.path.isdir(path) or path.endswith(os.sep):
        raise UserError(f"{path} is a folder: give a file name such as {os.path.join(path, 'data.jsonl')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"folder {folder} does not exist: create it first or choose another path")
    if not os.access(folder, os.W_OK):
        raise UserError(f"folder {folder} is not writable: choose another path")
    return path


# ---------------------------------------------------------------------------------------------- data
def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    from .data import SPLITS
    from .tasks import FORMATS, TASKS
    parser.add_argument("--task", choices=list(TASKS), default="addition", help="which task (default: addition)")
    parser.add_argument("--format", choices=FORMATS, default="scratchpad", help="target format (default: scratchpad)")
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="train, test (same distribution, held-out problems) or ood (addition: 9-10 digits)")
    parser.add_argument("-n", type=positive_int, default=None,
                        help="number of examples (default: 5 printed; the paper's split size with --out)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    parser.add_argument("--min-digits", type=positive_int, default=None, help="addition: fewest digits per operand")
    parser.add_argument("--max-digits", type=positive_int, default=None, help="addition: most digits per operand")
    parser.add_argument("--comments", action="store_true",
                        help="show reader comments after each addition step (display only, never in --out)")
    parser.add_argument("--out", default=None, help="write JSONL {input, target} lines to this file instead of printing")
    parser.add_argument("--problem", default=None,
                        help="render this one problem instead of drawing some, e.g. 29+57 or "
                             "'Evaluate -7*x**2 + 7*x + 5 at x = 1'")


def run_data(args) -> int:
    from .data import DEFAULT_SIZES, sample_examples, split_options, split_rng, write_jsonl
    from .tasks import get_task
    task = get_task(args.task)
    if task.name != "addition" and (args.min_digits or args.max_digits):
        raise UserError("--min-digits and --max-digits apply to --task addition only")
    if args.out is not None:
        writable_file(args.out)
        if args.comments:
            raise UserError("--comments is for reading only and cannot go into --out training data")
    if args.problem is not None:
        if args.out is not None:
            raise UserError("--problem prints one example; leave out --out (or --problem to write a dataset)")
        try:
            problem = task.parse_input(args.problem)
        except ValueError as error:
            raise UserError(str(error)) from None
        example = task.render(problem, args.format, comments=args.comments)
        print(example.input)
        print(example.target)
        return 0
    try:
        options = split_options(task, args.split, min_digits=args.min_digits, max_digits=args.max_digits)
        task.sample_problem(split_rng(args.seed, args.split), **options)   # validates the options
    except ValueError as error:
        raise UserError(str(error)) from None
    n = args.n or (DEFAULT_SIZES[args.split] if args.out else 5)
    rng = split_rng(args.seed, args.split)
    if args.out is not None:
        examples = sample_examples(task, args.split, n, args.format, rng, **options)
        write_jsonl(args.out, examples)
        print(f"wrote {n} {task.name} {args.format} examples ({args.split} split, seed {args.seed}) to {args.out}")
        return 0
    from .data import sample_problem
    for index in range(n):
        problem = sample_problem(task, args.split, rng, **options)
        example = task.render(problem, args.format, comments=args.comments)
        if index:
            print()
        print(example.input)
        print(example.target)
    return 0


# --------------------------------------------------------------------------------------------- check
def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    from .tasks import FORMATS, TASKS
    parser.add_argument("--task", choices=list(TASKS), default="addition", help="which task (default: addition)")
    parser.add_argument("--format", choices=FORMATS, default="scratchpad", help="target format (default: scratchpad)")
    parser.add_argument("input", help="the problem as the model read it, e.g. '2 9 + 5 7'")
    parser.add_argument("target", nargs="?", default=None,
                        help="the text written for it; read from standard input when left out")


def run_check(args) -> int:
    """Print the checker's verdict on one target; exit status 0 if correct, 1 if not."""
    from .tasks import get_task
    task = get_task(args.task)
    try:
        task.parse_input(args.input)
    except ValueError as error:
        raise UserError(str(error)) from None
    target = args.target if args.target is not None else sys.stdin.read().rstrip("\n")
    verdict = task.check(args.input, target, args.format)
    print(verdict.describe())
    return 0 if verdict.correct else 1


# ---------------------------------------------------------------------------------------- the parser
def _lazy(module_name: str, function_name: str):
    """A command function imported only when it runs, so 'data' never loads the model."""
    def call(argument):
        import importlib
        return getattr(importlib.import_module(module_name), function_name)(argument)
    return call


COMMANDS = {
    "data": ("print or write examples of a task in the paper's formats", add_data_arguments, run_data),
    "check": ("read a target (from an argument or standard input) and name its first wrong step",
              add_check_arguments, run_check),
    "train": ("train a model and print its accuracy table (default: addition with a scratchpad)",
              _lazy("minipad.commands", "add_train_arguments"), _lazy("minipad.commands", "run_train")),
    "eval": ("evaluate a checkpoint per problem size, inside and beyond the training lengths",
             _lazy("minipad.commands", "add_eval_arguments"), _lazy("minipad.commands", "run_eval")),
    "sample": ("let a trained model work one problem, with the checker marking its first wrong step",
               _lazy("minipad.commands", "add_sample_arguments"), _lazy("minipad.commands", "run_sample")),
    "compare": ("train the direct and the scratchpad model under one budget and compare them",
                _lazy("minipad.commands", "add_compare_arguments"), _lazy("minipad.commands", "run_compare")),
    "lengths": ("train position schemes on short sums and test them on longer ones: one table",
                _lazy("minipad.lengths", "add_arguments"), _lazy("minipad.lengths", "run")),
    "bench": ("measure training speed (ms/step, tokens/s, GFLOP/s) against this machine's matmul peak",
              _lazy("minipad.bench", "add_arguments"), _lazy("minipad.bench", "run")),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen command's options are built, so each command loads only what it needs."""
    parser = OneLineParser(prog="minipad", description="Scratchpads for intermediate computation, in NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=OneLineParser)
    commands.required = True
    chosen = next((word for word in (argv or []) if not word.startswith("-")), None)
    for name, (summary, add_arguments, _) in COMMANDS.items():
        subparser = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except UserError as error:
        print(f"minipad {args.command}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_status", EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"minipad {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. '| head'): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
