"""What can go wrong outside the program, each turned into one line on stderr and an exit status.

    2    a user's mistake: UserError (minipad/errors.py), or a command line argparse cannot read
    130  Ctrl-C
    141  the reader of our output went away ('| head'), as SIGPIPE would
    1    standard output cannot be written (a full disk: '> /dev/full'), or memory ran out
"""
from __future__ import annotations

import errno
import os
import sys

from ..errors import UserError
from .arguments import UsageError

EXIT_USAGE = 2


def run_guarded(prog, function, *arguments) -> int:
    """Call ``function(*arguments)`` and turn what can go wrong outside the program into one line.

    prog: the name to print (or a function returning it). Returns the exit status: 0 or what the function
    returned, else one of the module docstring's. The lessons use it too, so a lesson fails the same way
    the command line does.
    """
    name = prog if callable(prog) else (lambda: prog)
    try:
        try:
            status = function(*arguments)
        except SystemExit as exit_:   # argparse's --help, and sys.exit
            status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if sys.stdout is not None:
            sys.stdout.flush()   # a full disk shows here, not as a traceback when Python exits
        return status
    except UsageError as error:   # named by the (sub)command that could not read it: 'minipad data: error: ...'
        print(f"{error.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
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
