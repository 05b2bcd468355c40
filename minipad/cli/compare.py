"""minipad compare: train the direct and the scratchpad model under one budget, then one table with both.

The runs live in <out>/<task>-direct and <out>/<task>-scratchpad (out: runs/compare) and follow train's
rule: an existing run is continued with --resume or replaced with --force, never silently.
"""
from __future__ import annotations

import os
import shlex

from ..config import config_fields
from ..errors import UserError
from ..tasks.base import option_flag
from .options import add_config_arguments, build_config, given_overrides, given_task_options, print_config

SUMMARY = "train the direct and the scratchpad model under one budget and compare them"


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="the --quick preset of train, for both runs")
    parser.add_argument("--resume", action="store_true",
                        help="continue both runs saved under --out (a run not started yet starts)")
    parser.add_argument("--force", action="store_true",
                        help="start both runs over even if --out holds them (their files are replaced)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    add_config_arguments(parser)


def run(args) -> int:
    from ..evaluate import format_comparison   # loads the model's code
    from ..train import checkpoint_path, train
    if args.format is not None:
        raise UserError("compare trains both formats: leave out --format")
    if args.resume and args.force:
        raise UserError("--resume continues the runs in --out and --force starts them over: give one of them")
    base = args.out or os.path.join("runs", "compare")
    overrides = given_overrides(args)
    configs = {}
    for format in ("direct", "scratchpad"):   # every check before the first step of either run
        config = build_config(args, args.quick)
        config.format = format
        config.out = os.path.join(base, f"{config.task}-{format}")
        exists = os.path.exists(checkpoint_path(config))
        if exists and not (args.resume or args.force):
            raise UserError(f"{checkpoint_path(config)} exists: add --resume to continue the comparison, --force "
                            f"to start it over, or --out to choose another folder")
        resume = args.resume and exists
        configs[format] = (config, config.validate() if not resume else [], resume)
    reports, command = {}, resume_command(args, base)
    for format, (config, notes, resume) in configs.items():
        print(f"\n=== {format} ===")
        if not resume:
            print_config(config, notes)
        reports[format] = train(config, resume=resume, overrides={**overrides, "out": config.out},
                                force=args.force, progress=not args.no_progress, resume_command=command)
    print()
    print(format_comparison(reports))
    return 0


def resume_command(args, base: str) -> str:
    """The command that continues this comparison, with every option given (shown when Ctrl-C stops it)."""
    given = [f"{option_flag(f.name)} {shlex.quote(str(getattr(args, f.name)))}" for f in config_fields()
             if getattr(args, f.name, None) is not None and f.name != "out"]
    given += [f"{option_flag(name)} {shlex.quote(str(value))}" for name, value in given_task_options(args).items()]
    return " ".join(["python -m minipad compare --resume"] + (["--quick"] if args.quick else []) + given
                    + ["--out", shlex.quote(base)])
