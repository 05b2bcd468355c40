"""minipad bench: how fast minipad trains and decodes on this machine (the measurements: minipad/bench.py)."""
from __future__ import annotations

import argparse
import os

from ..config import TrainConfig
from ..lengths import SCHEMES
from .arguments import non_negative_float, non_negative_int, positive_int, whole_numbers

SUMMARY = "measure training speed (ms/step, tokens/s, GFLOP/s) against this machine's matmul peak"


def add_arguments(parser) -> None:
    default = TrainConfig()
    parser.add_argument("--sizes", type=parse_sizes,
                        default=parse_sizes(f"{default.n_layer}x{default.n_head}x{default.n_embd},4x4x128"),
                        help="model sizes LAYERSxHEADSxWIDTH, comma-separated (default: the default model's "
                             "and 4x4x128)")
    parser.add_argument("--scheme", type=scheme, default=None,
                        help="a position scheme of `python -m minipad lengths` (e.g. coupled+places+roles+window) "
                             "instead of the training defaults")
    parser.add_argument("--batch", type=positive_int, default=default.batch_size,
                        help=f"problems per batch (default: {default.batch_size})")
    parser.add_argument("--steps", type=positive_int, default=10,
                        help="timed steps per contender; the median is shown (default: 10)")
    parser.add_argument("--warmup", type=non_negative_int, default=2,
                        help="untimed steps per contender first (default: 2)")
    parser.add_argument("--pause", type=non_negative_float, default=0.05,
                        help="seconds of rest before each timed step (default: 0.05)")
    parser.add_argument("--workers", type=whole_numbers(1), default=[1, 2],
                        help="processes splitting the packed rows to compare, comma-separated (default: 1,2)")
    parser.add_argument("--padded-workers", type=whole_numbers(0), default=[2],
                        help="process counts to time padded rows with too; 0 for none (default: 2)")
    parser.add_argument("--blas-threads", type=whole_numbers(1), default=None,
                        help="rerun the step benchmark in a fresh process per BLAS thread count, e.g. 1,2")
    parser.add_argument("--matmul-size", type=positive_int, default=1024,
                        help="side of the square float32 product that measures the BLAS peak (default: 1024)")
    parser.add_argument("--decode-problems", type=non_negative_int, default=64,
                        help="problems decoded with the cache; 0 skips decoding (default: 64)")
    parser.add_argument("--recompute-problems", type=positive_int, default=4,
                        help="problems decoded by recomputing every prefix (default: 4)")
    parser.add_argument("--new-tokens", type=non_negative_int, default=0,
                        help="tokens each decoded problem writes; 0: its whole target (default: 0)")
    parser.add_argument("--eval-problems", type=non_negative_int, default=1000,
                        help="held-out problems whose evaluation is timed; 0 skips it (default: 1000)")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="also train the default recipe once per seed and report the minutes to 99%% and "
                             "99.5%% held-out accuracy (takes minutes per seed)")
    parser.add_argument("--seeds", type=whole_numbers(0), default=[0, 1, 2],
                        help="seeds for --time-to-accuracy (default: 0,1,2)")
    parser.add_argument("--max-steps", type=positive_int, default=default.max_steps,
                        help=f"--time-to-accuracy: training steps per seed (default: {default.max_steps})")
    parser.add_argument("--eval-every", type=positive_int, default=250,
                        help="--time-to-accuracy: steps between accuracy measurements (default: 250)")
    parser.add_argument("--tta-problems", type=positive_int, default=1000,
                        help="--time-to-accuracy: held-out problems per measurement and at the end, as many as "
                             "the final table has (default: 1000)")
    parser.add_argument("--out", default=os.path.join("runs", "bench"),
                        help="--time-to-accuracy: folder for the runs (default: runs/bench)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="random seed for weights and batches (default: 0)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # rows for a parent process


def run(args) -> int:
    from .. import bench   # loads the model's code
    return bench.run(args)


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """'2x4x64,4x4x128' -> [(2, 4, 64), (4, 4, 128)]: layers x heads x width (n_embd)."""
    sizes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        try:
            n_layer, n_head, n_embd = (int(part) for part in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"size {item.strip()!r} is not LAYERSxHEADSxWIDTH, e.g. 2x4x64") from None
        if min(n_layer, n_head, n_embd) < 1 or n_embd % n_head:
            raise argparse.ArgumentTypeError(
                f"size {item.strip()!r}: all three must be positive and the width divisible by the heads")
        sizes.append((n_layer, n_head, n_embd))
    return sizes


def scheme(text: str) -> str:
    """An argparse type: the name of a position scheme of the lengths experiment."""
    if text not in SCHEMES:
        raise argparse.ArgumentTypeError(f"unknown scheme {text!r}: choose from {', '.join(SCHEMES)}")
    return text
