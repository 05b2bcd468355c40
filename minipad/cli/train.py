"""minipad train: fill in a TrainConfig from the options, print it, and run the training loop
(minipad/train.py), which saves the checkpoint and ends with an accuracy table."""
from __future__ import annotations

from ..tasks import DEFAULT_TASK
from .options import add_config_arguments, build_config, given_overrides, print_config

SUMMARY = f"train a model and print its accuracy table (default: {DEFAULT_TASK} with a scratchpad)"


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="a first taste in about two minutes: small problems (the task's quick options, "
                             "e.g. 1-3 digit sums), 2,500 steps")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--force", action="store_true",
                        help="start over even if --out holds a checkpoint (its files are replaced)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    add_config_arguments(parser)


def run(args) -> int:
    from ..train import train   # the model is loaded only by the commands that use it
    config = build_config(args, args.quick)
    if not args.resume:
        print_config(config, config.validate())
    train(config, resume=args.resume, overrides=given_overrides(args), force=args.force,
          progress=not args.no_progress)
    return 0
