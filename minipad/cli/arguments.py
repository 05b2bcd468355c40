"""argparse's building blocks for every command: a parser whose mistakes are one line, and the types that
check a number or a yes/no as it is read ('-n 0': "argument -n: must be at least 1, got 0")."""
from __future__ import annotations

import argparse
import math
import re
import sys

from ..errors import UserError


class UsageError(UserError):
    """A command line argparse cannot read. ``prog`` names the command that refused it ('minipad data'): the
    one line starts with it (minipad/cli/guard.py)."""

    def __init__(self, prog: str, message: str):
        super().__init__(f"{message} (see --help)")
        self.prog = prog
        self.message = message


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is raised as UsageError, shown as one line ('minipad data: error: argument
    -n: must be at least 1, got 0 (see --help)') instead of the usage text and the message."""

    def error(self, message):
        raise UsageError(self.prog, message)

    def _print_message(self, message, file=None):
        """As argparse's, but a failed write (--help > /dev/full) is not silently ignored."""
        if message:
            (file or sys.stderr).write(message)


def dashed_word_hint(words: list[str]) -> str:
    """Why a word such as '-29+57' was read as an option, and how to pass text that starts with '-'; "" when
    no word before '--' looks like that (a plain negative number such as -3 is argparse's to judge)."""
    options = words[:words.index("--")] if "--" in words else words
    dashed = [word for word in options if re.match(r"-\d", word) and not re.fullmatch(r"-\d+|-\d*\.\d+", word)]
    if not dashed:
        return ""
    return (f"; {dashed[0]!r} starts with '-' and was taken for an option: problems take whole numbers, "
            f"not negative ones (to pass text that starts with '-', put -- before it)")


# ------------------------------------------------------------------------------------------------- types
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


def whole_numbers(minimum: int):
    """An argparse type: whole numbers separated by commas ('1,2'), each at least ``minimum``."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(item) for item in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
        if min(values) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least {minimum}")
        return values
    return parse


def number(text: str) -> float:
    """A float, or ArgumentTypeError: '{text}' is not a number."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (seconds, say)."""
    value = number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """An argparse type: a probability above 0 and at most 1."""
    value = number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must lie above 0 and at most 1, got {value:g}")
    return value


def true_or_false(text: str) -> bool:
    """An argparse type for yes/no settings: true, yes, 1, on or false, no, 0, off."""
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
