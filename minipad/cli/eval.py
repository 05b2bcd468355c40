"""minipad eval: load a checkpoint, evaluate it on its run's held-out sets (or, given task options, on
others: longer sums, say), print the table and save the report as JSON."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time

from ..checkpoint import RunLock, load_model, replaceable_path, write_text_atomically
from ..config import check_problem_count
from ..tasks import get_task
from .arguments import non_negative_int
from .options import add_task_option_arguments, given_task_options, writable_file_like

SUMMARY = "evaluate a checkpoint per problem size, inside and beyond the training distribution"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a model.npz written by train")
    parser.add_argument("--test-problems", type=non_negative_int, default=None,
                        help="held-out problems of the training distribution (default: the run's test_problems)")
    parser.add_argument("--ood-problems", type=non_negative_int, default=None,
                        help="problems just beyond the training distribution (default: the run's ood_problems)")
    parser.add_argument("--report", default=None, metavar="PATH.json",
                        help="save the report as JSON here ('-': on standard output, the table going to standard "
                             "error); default: eval.json beside the checkpoint, or nowhere if that folder is read-only")
    add_task_option_arguments(parser, "the sets to evaluate on: the task's options (default: the run's)")


def run(args) -> int:
    from ..evaluate import ask_for_other_sets, format_report, run_evaluation   # loads the model's code
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


def report_path(checkpoint: str, report: str | None) -> str | None:
    """Where eval saves its report: --report's path ("-" for standard output), else eval.json beside the
    checkpoint; None when that folder cannot be written (a checkpoint on a read-only share is still scored)."""
    if report == "-":
        return report
    if report is not None:
        return writable_file_like(report, "eval.json", "report")
    folder = os.path.dirname(os.path.abspath(checkpoint))
    return os.path.join(folder, "eval.json") if os.access(folder, os.W_OK) else None
