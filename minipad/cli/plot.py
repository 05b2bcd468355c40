"""minipad plot: draw a run's loss and held-out accuracy again from the files training saved, in the terminal
and (--svg) as a picture; --compare draws two runs on shared axes (minipad/curves.py)."""
from __future__ import annotations

import os
import sys

from ..curves import read_run, svg_picture, terminal_plots
from ..errors import UserError
from ..svg import write_svg
from .options import svg_file

SUMMARY = "draw a run's loss and held-out accuracy over training again from its saved files (--compare: two runs)"


def add_arguments(parser) -> None:
    parser.add_argument("run", nargs="?", default=None,
                        help="a run folder written by train (its --out, by default runs/<task>-<format>)")
    parser.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), default=None,
                        help="draw two runs on shared axes, e.g. the direct and the scratchpad run")
    parser.add_argument("--svg", default=None, metavar="FILE.svg",
                        help="also write the curves as a standalone SVG picture (opens in any browser)")


def run(args) -> int:
    if (args.run is None) == (args.compare is None):
        raise UserError("give one run folder, or --compare with two run folders")
    if args.svg is not None:
        svg_file(args.svg)
    runs = [read_run(folder) for folder in (args.compare or [args.run])]
    tasks = {run.task for run in runs if run.task is not None}
    if len(tasks) > 1:
        raise UserError(f"{runs[0].folder} trains {runs[0].task} but {runs[1].folder} trains {runs[1].task}: "
                        f"compare two runs of one task")
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(terminal_plots(runs, colour=colour))
    if args.svg is not None:
        write_svg(args.svg, svg_picture(runs))
        print(f"saved {args.svg}")
    return 0
