"""How fast is a training step on this machine? `python -m minipad bench` (or `python -m minipad.bench`).

For each model size it times a full training step, `loss_and_grads` plus an AdamW step, on random
token ids (float32, loss mask all ones), once in the calling thread and once split over Python threads
(minipad.parallel), alternating the contenders step by step with a short pause in between, because
BLAS worker threads keep spinning for a moment after a product and would steal a core from the next
measurement. It reports the median step time (and the best, which shows the machine undisturbed when
other programs compete for the cores), tokens per second and the achieved GFLOP/s, the latter also as a
share of the GFLOP/s of a 1024 x 1024 float32 matrix product measured in the same run with as many
threads, so you can see how far the step is from what the machine's BLAS delivers.

FLOPs counted per training step (matrix products only; a multiply-add is 2 FLOPs; backward = 2 x forward):

    6 * B * T * N  +  12 * L * B * T^2 * C,     N = 12 * L * C^2 + V * C

N is the number of weights used in matrix products: per block the q,k,v projection (C x 3C), the attention
output (C x C) and the MLP (C x 4C and 4C x C), plus the output head (V x C). Each weight does a
multiply-add per token forward (2 FLOPs) and two in the backward (4 FLOPs). The second term is attention:
forward q @ k^T and att @ v are 2 * T^2 * C FLOPs each per sequence and layer (the causal mask halves the
useful work, but NumPy computes the full T x T scores, so they are counted), again times 3 for the backward.
Element-wise work (softmax, LayerNorm, GELU, the optimizer) is not counted.

BLAS threads. NumPy cannot change its BLAS thread count once loaded: OPENBLAS_NUM_THREADS (OpenBLAS),
OMP_NUM_THREADS (other builds) must be in the environment before NumPy is imported. `--blas-threads 1,2`
reruns the benchmark in a fresh Python process for each count and prints one table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .cli import whole_number
from .errors import UserError
from .memory import check_fits_in_memory, training_step_bytes
from .model import GPT, GPTConfig
from .optim import AdamW
from .parallel import DataParallel
from .table import format_table

__all__ = ["add_arguments", "run", "main", "step_flops", "matmul_gflops", "parse_sizes"]

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
COLUMNS = ["size", "params", "BLAS threads", "threads", "ms/step", "best ms", "tokens/s", "GFLOP/s",
           "% of matmul", "speed-up"]


def step_flops(n_layer: int, n_embd: int, vocab_size: int, batch: int, seq_len: int) -> int:
    """FLOPs of one forward and backward pass: 6*B*T*(12*L*C^2 + V*C) + 12*L*B*T^2*C (module docstring)."""
    matmul_weights = 12 * n_layer * n_embd**2 + vocab_size * n_embd
    return 6 * batch * seq_len * matmul_weights + 12 * n_layer * batch * seq_len**2 * n_embd


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


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        values = [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every count must be at least 1")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, for `python -m minipad bench` and `python -m minipad.bench`."""
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("2x4x64,4x4x128"),
                        help="model sizes LAYERSxHEADSxWIDTH, comma-separated (default: 2x4x64,4x4x128)")
    parser.add_argument("--batch", type=whole_number(1), default=32, help="sequences per batch, B (default: 32)")
    parser.add_argument("--seq-len", type=whole_number(1), default=180,
                        help="tokens per sequence, T (default: 180)")
    parser.add_argument("--vocab", type=whole_number(1), default=100, help="vocabulary size, V (default: 100)")
    parser.add_argument("--steps", type=whole_number(1), default=10,
                        help="timed steps per contender; the median is shown (default: 10)")
    parser.add_argument("--warmup", type=whole_number(0), default=2,
                        help="untimed steps per contender first (default: 2)")
    parser.add_argument("--pause", type=_non_negative_float, default=0.05,
                        help="seconds of rest before each timed step (default: 0.05)")
    parser.add_argument("--threads", type=_int_list, default=[1, 2],
                        help="Python threads for data parallelism to compare, comma-separated (default: 1,2)")
    parser.add_argument("--blas-threads", type=_int_list, default=None,
                        help="rerun in a fresh process per BLAS thread count, e.g. 1,2 (default: keep this "
                             "process's setting)")
    parser.add_argument("--matmul-size", type=whole_number(1), default=1024,
                        help="side of the square float32 product that measures the BLAS peak (default: 1024)")
    parser.add_argument("--seed", type=whole_number(0), default=0,
                        help="random seed for weights and tokens (default: 0)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # rows for a parent process


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by the parsed arguments and print its table; returns 0."""
    for name in ("batch", "seq_len", "vocab", "steps", "matmul_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0 or args.pause < 0:
        raise UserError("--warmup and --pause must not be negative")
    check_memory(args)
    if args.blas_threads:
        return _run_per_blas_setting(args)
    other_cpu = OtherCpuUse()
    matmul = {n: matmul_gflops(args.matmul_size, n_threads=n) for n in args.threads}
    rows = []
    for size in args.sizes:
        rows += _time_size(size, args, matmul)
    other_share = other_cpu.share()
    if args.json:
        print(json.dumps({"rows": rows, "matmul": matmul, "environment": _environment(),
                          "other_share": other_share}))
        return 0
    print(_header(args, _environment()))
    print(_matmul_line(matmul, _blas_setting()))
    print()
    print(_table(rows))
    _print_other_cpu_use(other_share)
    return 0


def _time_size(size, args, matmul):
    """Time one model size under every thread count; returns one table row (a dict) per count."""
    n_layer, n_head, n_embd = size
    rng = np.random.default_rng(args.seed)
    config = GPTConfig(vocab_size=args.vocab, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                       block_size=args.seq_len, dtype="float32")
    model = GPT(config, rng)
    optimizer = AdamW.for_model(model)
    ids = rng.integers(0, args.vocab, size=(args.batch, args.seq_len))
    targets = rng.integers(0, args.vocab, size=(args.batch, args.seq_len))
    loss_mask = np.ones((args.batch, args.seq_len), dtype=np.float32)

    parallel = {n: DataParallel(model, n) for n in args.threads if n > 1}
    contenders = {n: parallel[n].loss_and_grads if n > 1 else model.loss_and_grads for n in args.threads}
    seconds = {n_threads: [] for n_threads in contenders}
    try:
        for round_index in range(args.warmup + args.steps):
            for n_threads, loss_and_grads in contenders.items():  # alternate the contenders
                time.sleep(args.pause)
                start = time.perf_counter()
                _, grads = loss_and_grads(ids, targets, loss_mask)
                optimizer.step(model.params, grads, lr=1e-4)
                elapsed = time.perf_counter() - start
                if round_index >= args.warmup:
                    seconds[n_threads].append(elapsed)
    finally:
        for data_parallel in parallel.values():
            data_parallel.close()

    flops = step_flops(n_layer, n_embd, args.vocab, args.batch, args.seq_len)
    tokens = args.batch * args.seq_len
    baseline = statistics.median(seconds[1 if 1 in seconds else args.threads[0]])
    rows = []
    for n_threads, times in seconds.items():
        step_seconds = statistics.median(times)
        gflops = flops / step_seconds / 1e9
        rows.append({
            "size": f"{n_layer}x{n_head}x{n_embd}",
            "params": model.num_params(),
            "BLAS threads": _blas_setting(),
            "threads": n_threads,
            "ms/step": f"{1000 * step_seconds:.1f}",
            "best ms": f"{1000 * min(times):.1f}",
            "tokens/s": f"{tokens / step_seconds:.0f}",
            "GFLOP/s": f"{gflops:.1f}",
            "% of matmul": f"{100 * gflops / matmul[n_threads]:.0f}%",
            "speed-up": f"{baseline / step_seconds:.2f}x",
        })
    return rows


def check_memory(args) -> None:
    """UserError with the estimate if a size's training step, or the matmul, cannot fit (minipad/memory.py)."""
    threads = max(args.threads)
    for n_layer, n_head, n_embd in args.sizes:
        needed = training_step_bytes(n_layer, n_head, n_embd, args.vocab, args.batch, args.seq_len, threads)
        check_fits_in_memory(needed, f"a training step of size {n_layer}x{n_head}x{n_embd} (batch {args.batch} x "
                                     f"{args.seq_len} tokens)", "lower --batch, --seq-len or --sizes")
    check_fits_in_memory(3 * 4 * args.matmul_size**2 * threads, f"the {args.matmul_size} x {args.matmul_size} "
                         f"matmul", "lower --matmul-size")


def matmul_gflops(n: int = 1024, repeats: int = 5, n_threads: int = 1) -> float:
    """GFLOP/s of an n x n float32 product (2 n^3 FLOPs), the best of `repeats` runs.

    With n_threads > 1, that many Python threads each compute their own product at the same time and the
    total rate is returned: the peak that data parallelism over that many threads could reach.
    """
    rng = np.random.default_rng(0)
    operands = [(rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32),
                 np.empty((n, n), dtype=np.float32)) for _ in range(n_threads)]

    def product(index):
        a, b, out = operands[index]
        np.matmul(a, b, out=out)

    product(0)  # first call: page in the memory, start the BLAS threads
    best = float("inf")
    with ThreadPoolExecutor(max_workers=n_threads) as executor:
        for _ in range(repeats):
            time.sleep(0.02)
            start = time.perf_counter()
            if n_threads == 1:
                product(0)
            else:
                list(executor.map(product, range(n_threads)))
            best = min(best, time.perf_counter() - start)
    return n_threads * 2 * n**3 / best / 1e9


def _table(rows: list[dict]) -> str:
    return format_table(COLUMNS, [[row[column] for column in COLUMNS] for row in rows],
                        align=["<"] + [">"] * (len(COLUMNS) - 1))


def _blas_setting() -> str:
    """The BLAS thread count requested through the environment, or 'default' (all cores for OpenBLAS)."""
    for variable in BLAS_THREAD_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    return "default"


def _environment() -> dict:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # NumPy < 1.26 prints its config instead of returning it
        blas_name = "unknown"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    variables = {variable: os.environ[variable] for variable in BLAS_THREAD_VARIABLES if variable in os.environ}
    return {"numpy": np.__version__, "blas": blas_name, "cpus": cpus, "variables": variables}


def _header(args, environment) -> str:
    variables = environment.get("variables_text") or ", ".join(
        f"{name}={value}" for name, value in environment["variables"].items()) or "no BLAS thread variable set"
    return (f"minipad bench: batch {args.batch} x sequence {args.seq_len}, float32, vocabulary {args.vocab}, "
            f"median (and best) of {args.steps} steps after {args.warmup} warm-up\n"
            f"step = loss_and_grads + AdamW; threads = Python threads splitting the batch (minipad.parallel); "
            f"speed-up against 1 thread\n"
            f"NumPy {environment['numpy']}, BLAS {environment['blas']}, {environment['cpus']} CPUs, {variables}\n"
            f"FLOPs per step = 6*B*T*(12*L*C^2 + V*C) + 12*L*B*T^2*C")


def _matmul_line(matmul: dict, blas_setting: str) -> str:
    rates = ", ".join(f"{rate:.1f} GFLOP/s with {n} thread{'s' if n > 1 else ''}" for n, rate in matmul.items())
    return f"float32 matmul peak (BLAS threads {blas_setting}): {rates}"


class OtherCpuUse:
    """How busy other programs kept the CPUs between creation and `share()` (Linux; elsewhere None).

    The share is (CPU time spent by the whole machine - CPU time spent by this process) / (elapsed time x
    number of CPUs), from /proc/stat and os.times(). On a shared machine it explains slow, noisy timings.
    """

    def __init__(self):
        self.start = self._snapshot()

    @staticmethod
    def _snapshot():
        try:
            with open("/proc/stat") as stat:
                fields = [int(field) for field in stat.readline().split()[1:]]
            ticks_per_second = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, AttributeError):
            return None
        idle = fields[3] + fields[4]  # idle and waiting for input/output
        busy = sum(fields[:8]) - idle  # user, nice, system, idle, iowait, irq, softirq, steal
        own = os.times()
        return time.perf_counter(), busy / ticks_per_second, own.user + own.system

    def share(self) -> float | None:
        end = self._snapshot()
        if self.start is None or end is None:
            return None
        elapsed = end[0] - self.start[0]
        others = (end[1] - self.start[1]) - (end[2] - self.start[2])
        cpus = os.cpu_count() or 1
        return min(1.0, max(0.0, others / (elapsed * cpus))) if elapsed > 0 else None


def _print_other_cpu_use(share: float | None, label: str = "") -> None:
    if share is None:
        return
    print(f"other programs used {100 * share:.0f}% of the CPU time during the run{label}"
          + (": the timings are slower and noisier than on an idle machine" if share > 0.1 else ""))


def _run_per_blas_setting(args) -> int:
    """Run the benchmark in a child process per BLAS thread count; print one combined table."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    forwarded = ["--sizes", ",".join(f"{l}x{h}x{c}" for l, h, c in args.sizes), "--batch", str(args.batch),
                 "--seq-len", str(args.seq_len), "--vocab", str(args.vocab), "--steps", str(args.steps),
                 "--warmup", str(args.warmup), "--pause", str(args.pause),
                 "--threads", ",".join(map(str, args.threads)), "--matmul-size", str(args.matmul_size),
                 "--seed", str(args.seed), "--json"]
    rows, matmul_lines, environment, other_shares = [], [], None, []
    for blas_threads in args.blas_threads:
        env = dict(os.environ, **{variable: str(blas_threads) for variable in BLAS_THREAD_VARIABLES})
        env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
        child = subprocess.run([sys.executable, "-m", "minipad.bench", *forwarded], env=env,
                               stdout=subprocess.PIPE, text=True)
        if child.returncode != 0:
            print(f"minipad bench: the run with {blas_threads} BLAS threads failed (exit status "
                  f"{child.returncode})", file=sys.stderr)
            return 1
        result = json.loads(child.stdout.strip().splitlines()[-1])
        rows += result["rows"]
        environment = result["environment"]
        other_shares.append((blas_threads, result["other_share"]))
        matmul = {int(n): rate for n, rate in result["matmul"].items()}
        matmul_lines.append(_matmul_line(matmul, str(blas_threads)))
    environment["variables_text"] = "OPENBLAS/OMP/MKL_NUM_THREADS set per run to its 'BLAS threads'"
    print(_header(args, environment))
    print("\n".join(matmul_lines))
    print()
    print(_table(rows))
    for blas_threads, share in other_shares:
        _print_other_cpu_use(share, f" with {blas_threads} BLAS thread{'s' if blas_threads > 1 else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .cli import OneLineParser, run_guarded
    parser = OneLineParser(prog="python -m minipad.bench", description=__doc__.split("\n")[0])
    parser.argv = list(sys.argv[1:] if argv is None else argv)
    add_arguments(parser)
    return run_guarded(parser.prog, lambda: run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
