"""Options that several commands share: the training configuration (one --option per TrainConfig field), the
tasks' own options, a problem typed or read from a file, and files to write."""
from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import MISSING, asdict, fields

from ..checkpoint import replaceable_path
from ..config import QUICK, UNLIMITED_STEPS, TrainConfig, config_fields
from ..errors import UserError
from ..tasks import DEFAULT_TASK, FORMATS, TASKS
from ..tasks.base import option_flag
from .arguments import true_or_false

TASK_OPTION_DEST = "task option "   # argparse keeps each task option under this prefix and its name


# ------------------------------------------------------------------------------------------ task options
def add_task_and_format_arguments(parser: argparse.ArgumentParser) -> None:
    """--task and --format, for the commands that need no model (a model knows its own)."""
    parser.add_argument("--task", choices=list(TASKS), default=DEFAULT_TASK,
                        help=f"which task (default: {DEFAULT_TASK})")
    parser.add_argument("--format", choices=FORMATS, default="scratchpad", help="target format (default: scratchpad)")


def add_task_option_arguments(parser: argparse.ArgumentParser,
                              title: str = "task options (each task takes its own; defaults in brackets)") -> None:
    """One --option per field of every task's options dataclass (default None: not given); its help says
    which task takes it. The chosen task refuses the options of another one (Task.make_options)."""
    offered = {}
    for task in TASKS.values():
        for option_field in fields(task.Options):
            offered.setdefault(option_field.name, []).append((task.name, option_field))
    group = parser.add_argument_group(title)
    for name, takers in offered.items():
        default = takers[0][1].default
        help_text = "; ".join(f"{task_name}: {option_field.metadata.get('help', '')} [{option_field.default!r}]"
                              for task_name, option_field in takers)
        group.add_argument(option_flag(name), dest=TASK_OPTION_DEST + name, type=argument_type(default),
                           default=None, metavar=name.upper(), help=help_text.replace("%", "%%"))


def given_task_options(args) -> dict:
    """The task options given on the command line, by name."""
    return {key[len(TASK_OPTION_DEST):]: value for key, value in vars(args).items()
            if key.startswith(TASK_OPTION_DEST) and value is not None}


def argument_type(default):
    """How argparse reads an option with this default: true_or_false for a yes/no, else the default's type."""
    return true_or_false if isinstance(default, bool) else type(default)


# ------------------------------------------------------------------------------ the training configuration
def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --option per TrainConfig field (default None: 'not given'), the field's help as the option's; then
    the options of every task."""
    group = parser.add_argument_group("configuration (TrainConfig; defaults in brackets)")
    for config_field in config_fields():
        default = config_field.default if config_field.default is not MISSING else None
        group.add_argument(option_flag(config_field.name), dest=config_field.name, type=argument_type(default),
                           default=None, metavar=config_field.name.upper(),
                           help=f"{config_field.metadata.get('help', '')} [{default!r}]")
    # --workers was --threads while the parts of a batch ran in threads: old command lines keep working
    group.add_argument("--threads", dest="workers", type=argument_type(1), default=None, help=argparse.SUPPRESS)
    add_task_option_arguments(parser)


def given_overrides(args) -> dict:
    """The TrainConfig fields given on the command line, task options under "task_options". A time budget
    given alone (--max-minutes without --max-steps) lifts the step cap, so that time decides when to stop,
    in a new run or a resumed one."""
    given = {f.name: getattr(args, f.name) for f in config_fields() if getattr(args, f.name, None) is not None}
    if "max_minutes" in given and "max_steps" not in given:
        given["max_steps"] = UNLIMITED_STEPS
    if given_task_options(args):
        given["task_options"] = given_task_options(args)
    return given


def build_config(args, quick: bool = False) -> TrainConfig:
    """TrainConfig from the defaults, then the --quick preset (with the task's quick options), then what
    was given on the command line."""
    given = given_overrides(args)
    task = TASKS.get(given.get("task", DEFAULT_TASK))
    quick_options = task.quick_options if quick and task is not None else {}
    task_options = {**quick_options, **given.pop("task_options", {})}
    return TrainConfig(**{**(QUICK if quick else {}), **given, "task_options": task_options})


def print_config(config: TrainConfig, notes: list[str] = ()) -> None:
    """The resolved config on one line, the task's options after the task and format; then a note for
    every setting validation adjusted."""
    settings = {}
    for key, value in asdict(config).items():
        settings.update(value if key == "task_options" else {key: value})
    print("config: " + " ".join(f"{key}={value}" for key, value in settings.items()))
    for note in notes:
        print(f"note: {note}")


# ----------------------------------------------------------------------------------------------- problems
def problem_examples() -> str:
    """Problems as users type them, one per task, for the help of options that take a problem; a problem of
    several lines (a program) is best given as a file, @path."""
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


# -------------------------------------------------------------------------------------------------- files
def writable_file(path: str) -> str:
    """A path whose folder exists (nothing is created behind the user's back) and that is not a folder."""
    if os.path.isdir(path) or path.endswith(os.sep):
        raise UserError(f"{path} is a folder: give a file name such as {os.path.join(path, 'data.jsonl')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"folder {folder} does not exist: create it first or choose another path")
    if not os.access(folder, os.W_OK):
        raise UserError(f"folder {folder} is not writable: choose another path")
    replaceable_path(path)   # an existing device, pipe or socket is refused, never replaced
    return path


def writable_file_like(path: str, example: str, what: str) -> str:
    """A writable path that ends as ``example`` does ('curves.svg': in .svg), so that a slip such as
    '--svg model.npz' cannot replace a checkpoint; ``what`` the file is, for the message ('picture')."""
    writable_file(path)
    ending = os.path.splitext(example)[1]
    if not path.lower().endswith(ending):
        raise UserError(f"{path} does not end in {ending}: give the {what} a name such as {example}")
    return path


def svg_file(path: str) -> str:
    """A writable path for --svg FILE.svg."""
    return writable_file_like(path, "curves.svg", "picture")
