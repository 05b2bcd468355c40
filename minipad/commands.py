"""The commands that train and use models: train, eval, sample, compare (wired up in minipad/cli.py)."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import MISSING, asdict

from .cli import (add_task_option_arguments, given_task_options, non_negative_int, problem_examples, problem_text,
                  true_or_false)
from .errors import UserError

# --quick: a first taste in at most two minutes on a 2-core laptop, with the task's quick_options (small
# problems: 1-3 digit sums for addition).
QUICK = {"max_steps": 2500, "warmup_steps": 100, "eval_every": 500, "eval_problems": 100,
         "test_problems": 300, "ood_problems": 100}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --option per TrainConfig field (default None: 'not given'), its comment as the help; then the
    options of every task (minipad/cli.py)."""
    from .config import TrainConfig, config_fields
    comments = _field_comments(TrainConfig)
    group = parser.add_argument_group("configuration (TrainConfig; defaults in brackets)")
    for field_ in config_fields():
        default = field_.default if field_.default is not MISSING else None
        kind = true_or_false if isinstance(default, bool) else type(default)
        group.add_argument(f"--{field_.name.replace('_', '-')}", dest=field_.name, type=kind, default=None,
                           metavar=field_.name.upper(), help=f"{comments.get(field_.name, '')} [{default!r}]")
    add_task_option_arguments(parser)


def _field_comments(cls) -> dict:
    """The '# comment' after each field of a dataclass, read from its source."""
    import inspect
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if ":" in stripped and "#" in stripped and not stripped.startswith("#"):
            name = stripped.split(":")[0].strip()
            comments[name] = stripped.split("#", 1)[1].strip()
    return comments


def given_overrides(args) -> dict:
    """The TrainConfig fields given on the command line, task options under "task_options". A time budget
    given alone (--max-minutes without --max-steps) lifts the step cap, so that time decides when to stop,
    in a new run or a resumed one."""
    from .config import UNLIMITED_STEPS, config_fields
    given = {f.name: getattr(args, f.name) for f in config_fields() if getattr(args, f.name, None) is not None}
    if "max_minutes" in given and "max_steps" not in given:
        given["max_steps"] = UNLIMITED_STEPS
    if given_task_options(args):
        given["task_options"] = given_task_options(args)
    return given


def build_config(args, quick: bool = False):
    """TrainConfig from the defaults, then the --quick preset (with the task's quick options), then what
    was given on the command line."""
    from .config import TrainConfig
    from .tasks import DEFAULT_TASK, TASKS
    given = given_overrides(args)
    task = TASKS.get(given.get("task", DEFAULT_TASK))
    quick_options = task.quick_options if quick and task is not None else {}
    task_options = {**quick_options, **given.pop("task_options", {})}
    return TrainConfig(**{**(QUICK if quick else {}), **given, "task_options": task_options})


def print_config(config, notes: list[str] = ()) -> None:
    """The resolved config on one line, the task's options after the task and format; then a note for
    every setting validation adjusted."""
    settings = {}
    for key, value in asdict(config).items():
        settings.update(value if key == "task_options" else {key: value})
    print("config: " + " ".join(f"{key}={value}" for key, value in settings.items()))
    for note in notes:
        print(f"note: {note}")


# --------------------------------------------------------------------------------------------- train
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="a first taste in about two minutes: small problems (the task's quick options, "
                             "e.g. 1-3 digit sums), 2,500 steps")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--force", action="store_true",
                        help="start over even if --out holds a checkpoint (its files are replaced)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    add_config_arguments(parser)


def run_train(args) -> int:
    from .train import train
    config = build_config(args, args.quick)
    overrides = given_overrides(args)
    if not args.resume:
        print_config(config, config.validate())
    train(config, resume=args.resume, overrides=overrides, force=args.force, progress=not args.no_progress)
    return 0


# ---------------------------------------------------------------------------------------------- eval
def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a model.npz written by train")
    parser.add_argument("--test-problems", type=non_negative_int, default=None,
                        help="held-out problems of the training distribution (default: the run's test_problems)")
    parser.add_argument("--ood-problems", type=non_negative_int, default=None,
                        help="problems just beyond the training distribution (default: the run's ood_problems)")
    parser.add_argument("--report", default=None, metavar="PATH.json",
                        help="save the report as JSON here ('-': on standard output, the table going to standard "
                             "error); default: eval.json beside the checkpoint, or nowhere if that folder is read-only")
    add_task_option_arguments(parser, "the sets to evaluate on: the task's options (default: the run's)")


def report_path(checkpoint: str, report: str | None) -> str | None:
    """Where eval saves its report: --report's path ("-" for standard output), else eval.json beside the
    checkpoint; None when that folder cannot be written (a checkpoint on a read-only share is still scored)."""
    from .cli import writable_file
    if report == "-":
        return report
    if report is not None:
        writable_file(report)
        if not report.lower().endswith(".json"):
            raise UserError(f"{report} does not end in .json: give the report a name such as eval.json")
        return report
    folder = os.path.dirname(os.path.abspath(checkpoint))
    return os.path.join(folder, "eval.json") if os.access(folder, os.W_OK) else None


def run_eval(args) -> int:
    import contextlib
    from .checkpoint import RunLock, load_model, replaceable_path, write_text_atomically
    from .config import check_problem_count
    from .evaluate import ask_for_other_sets, format_report, run_evaluation
    from .tasks import get_task
    for name, count in (("--test-problems", args.test_problems), ("--ood-problems", args.ood_problems)):
        if count is not None:
            check_problem_count(name, count)
    model, config, _, meta = load_model(args.checkpoint)
    output = report_path(args.checkpoint, args.report)
    stream = sys.stderr if output == "-" else sys.stdout   # standard output carries the JSON alone then
    if output not in (None, "-"):
        replaceable_path(output)   # a device or pipe in its place is refused before evaluating
    # eval.json in the run's folder: training there would overwrite it, and the other way round
    in_run_folder = args.report is None and output is not None
    lock = RunLock(os.path.dirname(os.path.abspath(args.checkpoint))) if in_run_folder else contextlib.nullcontext()
    task = get_task(config.task)
    if given_task_options(args):   # other evaluation sets than the run's
        ask_for_other_sets(config, task, given_task_options(args), model.config.block_size, args.ood_problems)
    with lock:
        started = time.perf_counter()
        report = run_evaluation(model, config, task, args.test_problems, args.ood_problems,
                                progress=sys.stderr.isatty())
        report.update(step=meta["step"], eval_seconds=time.perf_counter() - started)
        print(f"{args.checkpoint}: {task.name}, {config.format}, step {meta['step']}; "
              f"evaluated in {report['eval_seconds']:.1f} s", file=stream)
        if report["splits"]:
            print(format_report(report), file=stream)
        if output == "-":
            print(json.dumps(report, indent=2))
        elif output is None:
            print(f"not saved: the folder of {args.checkpoint} is read-only (--report PATH.json saves the report "
                  f"elsewhere, --report - prints it)")
        else:
            write_text_atomically(output, json.dumps(report, indent=2))
            replaced = " (replacing the one training wrote)" if args.report is None else ""
            print(f"saved {output}{replaced}")
    return 0


# -------------------------------------------------------------------------------------------- sample
def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a model.npz written by train")
    parser.add_argument("problem", help=f"a problem of the model's task, e.g. {problem_examples()}")


def run_sample(args) -> int:
    from .checkpoint import load_model
    from .data import prompt_text
    from .evaluate import decode_one
    from .tasks import get_task
    from .tasks.base import answer_of, mark_lines
    model, config, _, _ = load_model(args.checkpoint)
    task = get_task(config.task)
    try:
        example = task.render(task.parse_input(problem_text(args.problem)), config.format)
        _, written_ids = decode_one(model, task, config.format, example)
    except ValueError as error:   # not a problem of the task, or too long for the model
        raise UserError(str(error)) from None
    written = task.tokenizer().decode(written_ids)
    verdict = task.check(example.input, written, config.format)
    print(prompt_text(example), end="")
    print(mark_lines(written, verdict))
    print()
    right = answer_of(written) == example.answer
    print(f"checker: {verdict.describe()}")
    print(f"answer: {'right' if right else 'wrong'} (the right answer is {example.answer})")
    return 0


# ------------------------------------------------------------------------------------------- compare
def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the --quick preset of train, for both runs")
    parser.add_argument("--resume", action="store_true",
                        help="continue both runs saved under --out (a run not started yet starts)")
    parser.add_argument("--force", action="store_true",
                        help="start both runs over even if --out holds them (their files are replaced)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    add_config_arguments(parser)


def run_compare(args) -> int:
    """Train the direct and the scratchpad model under the same budget, then one table with both.

    The runs live in <out>/<task>-direct and <out>/<task>-scratchpad (out: runs/compare) and follow
    train's rule: an existing run is continued with --resume or replaced with --force, never silently.
    """
    from .evaluate import format_comparison
    from .train import checkpoint_path, train
    if args.format is not None:
        raise UserError("compare trains both formats: leave out --format")
    if args.resume and args.force:
        raise UserError("--resume continues the runs in --out and --force starts them over: give one of them")
    base = args.out or os.path.join("runs", "compare")
    overrides = given_overrides(args)
    configs = {}
    for fmt in ("direct", "scratchpad"):   # every check before the first step of either run
        config = build_config(args, args.quick)
        config.format = fmt
        config.out = os.path.join(base, f"{config.task}-{fmt}")
        exists = os.path.exists(checkpoint_path(config))
        if exists and not (args.resume or args.force):
            raise UserError(f"{checkpoint_path(config)} exists: add --resume to continue the comparison, --force "
                            f"to start it over, or --out to choose another folder")
        configs[fmt] = (config, config.validate() if not (args.resume and exists) else [], args.resume and exists)
    from .config import config_fields
    from .tasks.base import option_flag
    given = [f"--{f.name.replace('_', '-')} {shlex.quote(str(getattr(args, f.name)))}" for f in config_fields()
             if getattr(args, f.name, None) is not None and f.name != "out"]
    given += [f"{option_flag(name)} {shlex.quote(str(value))}" for name, value in given_task_options(args).items()]
    resume_command = " ".join(["python -m minipad compare --resume"] + (["--quick"] if args.quick else []) + given
                              + ["--out", shlex.quote(base)])
    reports = {}
    for fmt, (config, notes, resume) in configs.items():
        print(f"\n=== {fmt} ===")
        if not resume:
            print_config(config, notes)
        reports[fmt] = train(config, resume=resume, overrides={**overrides, "out": config.out}, force=args.force,
                             progress=not args.no_progress, resume_command=resume_command)
    print()
    print(format_comparison(reports))
    return 0

