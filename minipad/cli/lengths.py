"""minipad lengths: train position schemes under one budget on the training sizes, then test them on
longer problems than any seen: one table (minipad/lengths.py)."""
from __future__ import annotations

import os

from ..errors import UserError
from ..lengths import DEFAULT_SCHEMES, DEFAULT_SIZES, QUICK, SCHEMES, lengths_experiment
from .options import add_config_arguments, given_overrides

SUMMARY = "train position schemes on short sums and test them on longer ones: one table"
SET_BY_EACH_RUN = ("format", "seed", "ood_digits", "ood_problems", "position", "position_ids", "places",
                   "line_window", "roles")


def add_arguments(parser) -> None:
    parser.add_argument("--schemes", default=None,
                        help=f"schemes separated by commas, from: {', '.join(SCHEMES)} "
                             f"(default: {','.join(DEFAULT_SCHEMES)})")
    parser.add_argument("--seeds", default="0,1,2", help="seeds separated by commas (default: 0,1,2)")
    parser.add_argument("--sizes", default=None,
                        help="longer sizes to test, separated by commas (default: 9,10,12,16,20)")
    parser.add_argument("--problems-per-size", type=int, default=200,
                        help="problems at each longer size (default: 200)")
    parser.add_argument("--quick", action="store_true",
                        help="a first look: 3 schemes, one seed, 1,500 steps, sizes 9,10,12")
    add_config_arguments(parser)


def run(args) -> int:
    given = given_overrides(args)
    for name in SET_BY_EACH_RUN:
        if name in given or name in given.get("task_options", {}):
            raise UserError(f"--{name.replace('_', '-')} is set by each scheme and seed: use --schemes, --seeds "
                            f"and --sizes instead")
    try:
        schemes = list_of(str, "schemes")(args.schemes) if args.schemes else None
        seeds = list_of(int, "seeds")(args.seeds)
        sizes = list_of(int, "sizes")(args.sizes) if args.sizes else None
    except ValueError as error:
        raise UserError(str(error)) from None
    if any(seed < 0 for seed in seeds):
        raise UserError("seeds must not be negative")
    base = {"max_steps": 3000, "eval_every": 1000, "test_problems": 1000}
    problems = args.problems_per_size
    if args.quick:
        base.update(max_steps=QUICK["max_steps"], test_problems=QUICK["test_problems"], warmup_steps=100)
        schemes = schemes or QUICK["schemes"]
        seeds = seeds if args.seeds != "0,1,2" else QUICK["seeds"]
        sizes = sizes or QUICK["sizes"]
        problems = QUICK["problems_per_size"] if problems == 200 else problems
    base.update(given)
    base.setdefault("out", "")
    out = base.pop("out") or os.path.join("runs", "lengths")
    if problems < 1:
        raise UserError(f"--problems-per-size must be at least 1, got {problems}")
    lengths_experiment(schemes or DEFAULT_SCHEMES, seeds, sizes or DEFAULT_SIZES, base, out, problems)
    return 0


def list_of(kind, what):
    """A parser of values separated by commas ('0,1,2'); ValueError naming ``what`` they are otherwise."""
    def parse(text):
        try:
            values = tuple(kind(part) for part in text.split(",") if part)
        except ValueError:
            raise ValueError(f"{what} are separated by commas, got {text!r}") from None
        if not values:
            raise ValueError(f"give at least one of the {what}")
        return values
    return parse
