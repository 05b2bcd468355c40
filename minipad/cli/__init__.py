"""The command line: ``python -m minipad <command> [options]``; ``--help`` after a command lists its options.

One module per command, each with the same three parts:

    SUMMARY               one line for the list of commands
    add_arguments(parser) the command's options
    run(args)             what it does with them, returning the exit status; the work itself is done by
                          the package's modules (train.py, evaluate.py, show.py, ...)

A command imports the modules that load the model inside its run, so that ``minipad data`` and every
``--help`` start without it. A user's mistake (UserError, or an option argparse cannot read) is one line
on stderr and exit status 2 (guard.py).
"""
from __future__ import annotations

import argparse
import sys

from . import bench, check, compare, data, eval, lengths, plot, sample, show, train
from .arguments import OneLineParser, UsageError, dashed_word_hint
from .guard import run_guarded

COMMANDS = {"data": data, "check": check, "train": train, "eval": eval, "sample": sample, "show": show,
            "plot": plot, "compare": compare, "lengths": lengths, "bench": bench}

__all__ = ["main", "build_parser", "run_guarded", "COMMANDS"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: ``minipad`` and a subparser per command, with that command's options."""
    parser = OneLineParser(prog="minipad", description="Scratchpads for intermediate computation, in NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=OneLineParser)
    commands.required = True
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.SUMMARY, description=command.SUMMARY))
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; UsageError if argparse cannot read it, saying why when a problem such as
    '-29+57' was taken for an option."""
    try:
        return build_parser().parse_args(argv)
    except UsageError as error:
        raise UsageError(error.prog, error.message + dashed_word_hint(argv)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names (default: the program's arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = ["minipad"]   # "minipad data" once the command is known: the start of an error's one line

    def parse_and_run():
        args = parse(argv)
        prog[0] = f"minipad {args.command}"
        return COMMANDS[args.command].run(args)

    return run_guarded(lambda: prog[0], parse_and_run)
