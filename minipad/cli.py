"""The command line: ``python -m minipad <command> --help`` for each command.

Each command is a function that takes the parsed arguments and returns an exit status. A user's mistake
(raised as UserError, or an argparse error) prints one line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys

from .errors import UserError
from .tasks import DEFAULT_TASK

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line: 'minipad data: error: ...'."""

    argv: list[str] = []   # the words being parsed, to explain a problem that was taken for an option

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{self._dash_hint()} (see --help)\n")

    def _print_message(self, message, file=None):
        """As argparse's, but a failed write (--help > /dev/full) is not silently ignored."""
        if message:
            (file or sys.stderr).write(message)

    def _dash_hint(self) -> str:
        """'-29+57' is read as an option: say why, and how to pass text that starts with '-'."""
        words = self.argv[:self.argv.index("--")] if "--" in self.argv else self.argv
        dashed = [word for word in words if re.match(r"-\d", word) and not re.fullmatch(r"-\d+|-\d*\.\d+", word)]
        if not dashed:
            return ""
        return (f"; {dashed[0]!r} starts with '-' and was taken for an option: problems take whole numbers, "
                f"not negative ones (to pass text that starts with '-', put -- before it)")


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


def true_or_false(text: str) -> bool:
    """An argparse type for yes/no settings: true, yes, 1, on or false, no, 0, off."""
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


TASK_OPTION_DEST = "task option "   # argparse keeps each task option under this prefix and its name


def add_task_option_arguments(parser: argparse.ArgumentParser,
                              title: str = "task options (each task takes its own; defaults in brackets)") -> None:
    """One --option per field of every task's options dataclass (default None: not given); its help says
    which task takes it. The chosen task refuses the options of another one (Task.make_options)."""
    from dataclasses import fields
    from .tasks import TASKS
    from .tasks.base import option_flag
    offered = {}
    for task in TASKS.values():
        for option_field in fields(task.Options):
            offered.setdefault(option_field.name, []).append((task.name, option_field))
    group = parser.add_argument_group(title)
    for name, takers in offered.items():
        default = takers[0][1].default
        kind = true_or_false if isinstance(default, bool) else type(default)
        help_text = "; ".join(f"{task_name}: {option_field.metadata.get('help', '')} [{option_field.default!r}]"
                              for task_name, option_field in takers).replace("%", "%%")   # argparse formats help
        group.add_argument(option_flag(name), dest=TASK_OPTION_DEST + name, type=kind, default=None,
                           metavar=name.upper(), help=help_text)


def given_task_options(args) -> dict:
    """The task options given on the command line, by name."""
    return {key[len(TASK_OPTION_DEST):]: value for key, value in vars(args).items()
            if key.startswith(TASK_OPTION_DEST) and value is not None}


def problem_examples() -> str:
    """Problems as users type them, one per task, for the help of options that take a problem; a problem of
    several lines (a program) is best given as a file, @path."""
    import shlex
    from .tasks import TASKS
    shown = [f"@{task.name}.txt (a file)" if "\n" in task.example_input else shlex.quote(task.example_input)
             for task in TASKS.values() if task.example_input]
    return " or ".join(shown)


def problem_text(argument: str) -> str:
    """A problem given on the command line: the text itself or, written @path, the text of that file (for a
    problem of several lines, such as a program); UserError if the file cannot be read."""
    if not argument.startswith("@"):
        return argument
    path = argument[1:]
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().rstrip("\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(f"cannot read the problem from {path}: {reason}") from None


def writable_file(path: str) -> str:
    """A path whose folder exists (nothing is created behind the user's back) and that is not a folder."""
    if os.path.isdir(path) or path.endswith(os.sep):
        raise UserError(f"{path} is a folder: give a file name such as {os.path.join(path, 'data.jsonl')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"folder {folder} does not exist: create it first or choose another path")
    if not os.access(folder, os.W_OK):
        raise UserError(f"folder {folder} is not writable: choose another path")
    from .checkpoint import replaceable_path
    replaceable_path(path)   # an existing device, pipe or socket is refused, never replaced
    return path


def svg_file(path: str) -> str:
    """A writable path ending in .svg (so that a slip such as '--svg model.npz' cannot replace a checkpoint)."""
    writable_file(path)
    if not path.lower().endswith(".svg"):
        raise UserError(f"{path} does not end in .svg: give the picture a name such as curves.svg")
    return path


# ---------------------------------------------------------------------------------------------- data
def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    from .data import SPLITS
    from .tasks import DEFAULT_TASK, FORMATS, TASKS
    parser.add_argument("--task", choices=list(TASKS), default=DEFAULT_TASK, help=f"which task (default: {DEFAULT_TASK})")
    parser.add_argument("--format", choices=FORMATS, default="scratchpad", help="target format (default: scratchpad)")
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="train, test (same distribution, held-out problems) or ood (just beyond the training "
                             "options, as the task defines it)")
    parser.add_argument("-n", type=positive_int, default=None,
                        help="number of examples (default: 5 printed; the paper's split size with --out)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    parser.add_argument("--comments", action="store_true",
                        help="show reader comments after each scratchpad step (display only, never in --out)")
    parser.add_argument("--out", default=None,
                        help="write JSONL {input, target} lines to this file instead of printing "
                             "('-': to standard output)")
    parser.add_argument("--problem", default=None,
                        help=f"render this one problem instead of drawing some, e.g. {problem_examples()}")
    add_task_option_arguments(parser)


def run_data(args) -> int:
    from .data import DEFAULT_SIZES, iterate_examples, jsonl_lines, split_options, split_rng, write_jsonl
    from .tasks import get_task
    task = get_task(args.task)
    try:
        options = task.make_options(given_task_options(args))   # the training options
        drawn_with = split_options(task, args.split, options)
    except ValueError as error:
        raise UserError(str(error)) from None
    if args.out is not None:
        if args.out != "-":
            writable_file(args.out)
        if args.comments:
            raise UserError("--comments is for reading only and cannot go into --out training data")
    if args.problem is not None:
        if args.out is not None:
            raise UserError("--problem prints one example; leave out --out (or --problem to write a dataset)")
        try:
            problem = task.parse_input(problem_text(args.problem))
        except ValueError as error:
            raise UserError(str(error)) from None
        example = task.render(problem, args.format, comments=args.comments)
        print(example.input)
        print(example.target)
        return 0
    n = args.n or (DEFAULT_SIZES[args.split] if args.out else 5)
    rng = split_rng(args.seed, args.split)
    if args.out is not None:
        examples = iterate_examples(task, args.split, n, args.format, rng, options)   # streamed, never a list
        if args.out == "-":   # the JSONL alone on standard output, for a pipe
            sys.stdout.writelines(jsonl_lines(examples))
            return 0
        write_jsonl(args.out, examples)
        print(f"wrote {n} {task.name} {args.format} examples ({args.split} split, seed {args.seed}) to {args.out}")
        return 0
    from .data import sample_problem
    for index in range(n):
        problem = sample_problem(task, args.split, rng, drawn_with)
        example = task.render(problem, args.format, comments=args.comments)
        if index:
            print()
        print(example.input)
        print(example.target)
    return 0


# --------------------------------------------------------------------------------------------- check
def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    from .tasks import DEFAULT_TASK, FORMATS, TASKS
    parser.add_argument("--task", choices=list(TASKS), default=DEFAULT_TASK, help=f"which task (default: {DEFAULT_TASK})")
    parser.add_argument("--format", choices=FORMATS, default="scratchpad", help="target format (default: scratchpad)")
    parser.add_argument("input", help="the problem as the model read it, e.g. '2 9 + 5 7', or @path to read it "
                                      "from a file")
    parser.add_argument("target", nargs="?", default=None,
                        help="the text written for it; read from standard input when left out, where a "
                             "first line equal to the problem is skipped, so the output of "
                             "'data --problem' can be piped in")


def run_check(args) -> int:
    """Print the checker's verdict on one target; exit status 0 if correct, 1 if not."""
    from .tasks import get_task
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
    "train": (f"train a model and print its accuracy table (default: {DEFAULT_TASK} with a scratchpad)",
              _lazy("minipad.commands", "add_train_arguments"), _lazy("minipad.commands", "run_train")),
    "eval": ("evaluate a checkpoint per problem size, inside and beyond the training distribution",
             _lazy("minipad.commands", "add_eval_arguments"), _lazy("minipad.commands", "run_eval")),
    "sample": ("let a trained model work one problem, with the checker marking its first wrong step",
               _lazy("minipad.commands", "add_sample_arguments"), _lazy("minipad.commands", "run_sample")),
    "show": ("let a trained model work one problem: its confidence in every token, the checker's verdict, "
             "and (--attention) where it looks", _lazy("minipad.show", "add_arguments"), _lazy("minipad.show", "run")),
    "plot": ("draw a run's loss and held-out accuracy over training again from its saved files (--compare: two runs)",
             _lazy("minipad.curves", "add_arguments"), _lazy("minipad.curves", "run")),
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
    parser.argv = list(argv or [])
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=OneLineParser)
    commands.required = True
    chosen = next((word for word in (argv or []) if not word.startswith("-")), None)
    for name, (summary, add_arguments, _) in COMMANDS.items():
        subparser = commands.add_parser(name, help=summary, description=summary)
        subparser.argv = parser.argv
        if name == chosen:
            add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = ["minipad"]

    def parse_and_run():
        args = build_parser(argv).parse_args(argv)
        prog[0] = f"minipad {args.command}"
        return COMMANDS[args.command][2](args)

    return run_guarded(lambda: prog[0], parse_and_run)


def run_guarded(prog, function, *arguments) -> int:
    """Call ``function(*arguments)`` and turn what can go wrong outside the program into one line.

    prog: the name to print (or a function returning it). Returns the exit status:
      0 or what the function returned; 2 for a user's mistake (UserError, or argparse's usage errors);
      130 for Ctrl-C; 141 (as SIGPIPE would) when the reader of our output went away ('| head');
      1 when standard output cannot be written (a full disk: '> /dev/full') or memory runs out.
    The lessons use it too, so a lesson fails the same way the command line does.
    """
    name = prog if callable(prog) else (lambda: prog)
    try:
        try:
            status = function(*arguments)
        except SystemExit as exit_:   # argparse (--help, a usage error) and sys.exit
            status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if sys.stdout is not None:
            sys.stdout.flush()   # a full disk shows here, not as a traceback when Python exits
        return status
    except UserError as error:
        print(f"{name()}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_status", EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"{name()}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. '| head'): stop quietly, as Unix tools do
        _discard_stdout()
        return 141
    except MemoryError:
        print(f"{name()}: error: out of memory: choose smaller sizes (batch, width, layers, sequence length)",
              file=sys.stderr)
        return 1
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EBADF):
            raise
        _discard_stdout()
        print(f"{name()}: error: cannot write the output: {error.strerror}", file=sys.stderr)
        return 1


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so that Python's own flush at exit cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass
