"""How fast is minipad on this machine? `python -m minipad bench` (its options: minipad/cli/bench.py).

Training step. For each model size (the default model, and 4 layers/4 heads/width 128) it times a full
step, minipad.parallel's loss and gradients plus an AdamW step, on real training batches of the default
task (the same batches for every contender), for each contender:

    packed, N workers    what training runs: problems packed into rows (minipad/packing.py), split over N
                         processes (this one and N - 1 worker processes, minipad/parallel.py)
    padded, N workers    the same batches computed as padded rows, for comparison

alternating the contenders step by step with a short pause in between, because BLAS worker threads keep
spinning for a moment after a product and would steal a core from the next measurement. It reports the
median step time (and the best, which shows the machine undisturbed when other programs compete for the
cores); real tokens/s (the problems' own tokens) and padded tokens/s (rows x longest problem, what a
padded batch computes on); GFLOP/s and their share of the GFLOP/s of a 1024 x 1024 float32 matrix product
measured in the same run, as many products at once as there are workers; the peak memory a step allocates
when one process computes the whole batch (tracemalloc; with N workers each process holds about 1/N of the
activations); and the peak resident memory of this process and of its worker processes, everything included.

FLOPs counted per training step (matrix products only; a multiply-add is 2 FLOPs; backward = 2 x forward),
summed over the problems of the batch, t tokens each:

    6 * N * t  +  12 * L * t^2 * C,     N = 12 * L * C^2 + V * C

N is the number of weights used in matrix products: per block the q,k,v projection (C x 3C), the attention
output (C x C) and the MLP (C x 4C and 4C x C), plus the output head (V x C). Each weight does a
multiply-add per token forward (2 FLOPs) and two in the backward (4 FLOPs). The second term is attention:
forward q @ k^T and att @ v are 2 * t^2 * C FLOPs each per problem and layer, again times 3 for the
backward. This is the model's work on the real tokens, as a dense implementation computes it for each
problem alone: the causal half and the keys a line window hides, which minipad skips, are counted, and
padding is not. Element-wise work (softmax, LayerNorm, GELU, the optimizer) is not counted.

Decoding. Greedy decoding of the problems just beyond the training sizes (the "ood" split: 9 and 10 digit
sums for the default 1-8) with the key/value cache (minipad.generate.generate) against recomputing every
prefix (generate_by_recomputing), both writing the same number of tokens; and the time to evaluate 1,000
held-out problems (minipad.evaluate; an untrained model writes until its budget, the slowest case).

Time to accuracy (--time-to-accuracy, trains: minutes per seed). The default recipe is trained once per
seed (--seeds); the table gives the training minutes until the held-out answer accuracy first reached 99%
and 99.5% (progress evaluations every --eval-every steps on --tta-problems problems, 1,000 by default) and
the final accuracy on as many held-out problems.

BLAS threads. NumPy cannot change its BLAS thread count once loaded: OPENBLAS_NUM_THREADS (OpenBLAS),
OMP_NUM_THREADS (other builds) must be in the environment before NumPy is imported. `--blas-threads 1,2`
reruns the step benchmark in a fresh Python process for each count and prints one table.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from .config import TrainConfig
from .data import prompt_text, sample_examples, split_rng
from .lengths import SCHEMES
from .model import GPT
from .optim import AdamW
from .parallel import parallel_loss_and_grads
from .table import format_table
from .tasks import get_task
from .train import draw_batch, train

__all__ = ["run", "step_flops", "matmul_gflops"]

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
COLUMNS = ["size", "params", "BLAS threads", "rows", "workers", "ms/step", "best ms", "real tok/s",
           "padded tok/s", "GFLOP/s", "% of matmul", "peak MiB", "speed-up"]
TARGETS = (0.99, 0.995)  # the answer accuracies whose time --time-to-accuracy reports


def step_flops(n_layer: int, n_embd: int, vocab_size: int, lengths) -> int:
    """FLOPs of one forward and backward pass over problems of the given token counts (module docstring)."""
    matmul_weights = 12 * n_layer * n_embd**2 + vocab_size * n_embd
    return sum(6 * t * matmul_weights + 12 * n_layer * t * t * n_embd for t in map(int, lengths))


def bench_config(args, size=None) -> TrainConfig:
    """The TrainConfig the benchmark measures: the defaults, the --scheme's settings, the size, the batch."""
    settings = {}
    if args.scheme:  # a scheme names what it switches on: everything else plain, whatever the defaults
        settings = {**dict(position_ids="plain", places=0, roles=0, line_window=False), **SCHEMES[args.scheme][1]}
        settings["format"] = SCHEMES[args.scheme][0]
    if size is not None:
        settings.update(n_layer=size[0], n_head=size[1], n_embd=size[2])
    return TrainConfig(**settings, batch_size=args.batch, seed=args.seed)


def bench_model(config: TrainConfig, seed: int) -> GPT:
    """A fresh model of the config, for the task's vocabulary."""
    vocab_size = get_task(config.task).tokenizer().vocab_size
    return GPT(config.model_config(vocab_size), np.random.default_rng(seed))


def check_memory(args) -> None:
    """UserError with the estimate if a size's training step cannot fit (minipad/memory.py): rows of the
    default block size, the batch's problems padded to it, as the padded contender runs them."""
    from .memory import check_fits_in_memory, training_step_bytes
    workers = max(args.workers)
    block = TrainConfig().block_size
    for n_layer, n_head, n_embd in args.sizes:
        needed = training_step_bytes(n_layer, n_head, n_embd, 128, args.batch, block, workers)
        check_fits_in_memory(needed, f"a training step of size {n_layer}x{n_head}x{n_embd} (batch {args.batch})",
                             "lower --batch or --sizes")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by the parsed arguments and print its tables; returns 0."""
    check_memory(args)
    if args.blas_threads:
        return _run_per_blas_setting(args)
    other_cpu = OtherCpuUse()
    matmul = {n: matmul_gflops(args.matmul_size, n_at_once=n)
              for n in sorted(set(args.workers) | {n for n in args.padded_workers if n > 0})}
    rows = []
    for size in args.sizes:
        rows += _time_size(size, args, matmul)
    if args.json:
        print(json.dumps({"rows": rows, "matmul": matmul, "environment": _environment(),
                          "other_share": other_cpu.share()}))
        return 0
    print(_header(args, _environment()))
    print(_matmul_line(matmul, _blas_setting()))
    print()
    print(_table(rows))
    _print_peak_rss()
    _print_other_cpu_use(other_cpu.share())
    if args.decode_problems or args.eval_problems:
        other_cpu = OtherCpuUse()
        print()
        print(_decoding(args))
        _print_other_cpu_use(other_cpu.share())
    if args.time_to_accuracy:
        other_cpu = OtherCpuUse()
        print()
        print(_time_to_accuracy(args))
        _print_other_cpu_use(other_cpu.share())
    return 0


def training_batches(config: TrainConfig, model: GPT, count: int):
    """`count` training batches as train.py draws them: (ids, targets, mask, layout, problem lengths)."""
    task = get_task(config.task)
    tokenizer = task.tokenizer()
    rng = np.random.default_rng(config.seed)
    options = config.split_options("train")
    batches = []
    for _ in range(count):
        batch, layout = draw_batch(config, model.config, task, tokenizer, rng, options)
        lengths = (batch.ids != tokenizer.pad_id).sum(axis=1)  # each problem's tokens
        batches.append((batch.ids, batch.targets, batch.mask, layout, lengths))
    return batches


def _time_size(size, args, matmul):
    """Time one model size for every contender; returns one table row (a dict) per contender."""
    config = bench_config(args, size)
    model = bench_model(config, args.seed)
    optimizer = AdamW.for_model(model)
    batches = training_batches(config, model, count=4)
    contenders = [(True, n) for n in args.workers] + [(False, n) for n in args.padded_workers if n > 0]

    def step(contender, batch):
        packed, n_workers = contender
        ids, targets, mask, layout, _ = batch
        _, grads = parallel_loss_and_grads(model, ids, targets, mask, n_workers, layout, packed=packed)
        optimizer.step(model.params, grads, lr=1e-4)

    seconds = {contender: [] for contender in contenders}
    for round_index in range(args.warmup + args.steps):
        batch = batches[round_index % len(batches)]
        for contender in contenders:  # alternate the contenders, on the same batch
            time.sleep(args.pause)
            start = time.perf_counter()
            step(contender, batch)
            if round_index >= args.warmup:
                seconds[contender].append(time.perf_counter() - start)
    # in one process (tracemalloc sees only its own): the whole batch's activations, an upper bound on each
    # worker's share; once for packed and once for padded rows
    peak_bytes = {packed: _peak_memory(lambda: step((packed, 1), batches[0])) for packed in {p for p, _ in contenders}}

    real_tokens = statistics.mean(int(batch[4].sum()) for batch in batches)
    padded_tokens = statistics.mean(batch[0].size for batch in batches)
    flops = statistics.mean(step_flops(size[0], size[2], model.config.vocab_size, batch[4]) for batch in batches)
    baseline = statistics.median(seconds[contenders[0]])
    rows = []
    for contender, times in seconds.items():
        packed, n_workers = contender
        step_seconds = statistics.median(times)
        gflops = flops / step_seconds / 1e9
        rows.append({
            "size": f"{size[0]}x{size[1]}x{size[2]}",
            "params": model.num_params(),
            "BLAS threads": _blas_setting(),
            "rows": "packed" if packed else "padded",
            "workers": n_workers,
            "ms/step": f"{1000 * step_seconds:.1f}",
            "best ms": f"{1000 * min(times):.1f}",
            "real tok/s": f"{real_tokens / step_seconds:.0f}",
            "padded tok/s": f"{padded_tokens / step_seconds:.0f}",
            "GFLOP/s": f"{gflops:.1f}",
            "% of matmul": f"{100 * gflops / matmul[n_workers]:.0f}%",
            "peak MiB": f"{peak_bytes[packed] / 2**20:.0f}",
            "speed-up": f"{baseline / step_seconds:.2f}x",
        })
    return rows


def _peak_memory(function) -> int:
    """Bytes allocated at the peak of one call (NumPy arrays included), measured with tracemalloc."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _decoding(args) -> str:
    """Cached decoding against recomputing every prefix, and the time of a 1,000-problem evaluation."""
    from .evaluate import decode_answers
    from .generate import generate, generate_by_recomputing
    from .positions import decoding_layouts
    config = bench_config(args)
    model = bench_model(config, args.seed)
    task = get_task(config.task)
    tokenizer = task.tokenizer()
    lines = [f"decoding, default model {config.n_layer}x{config.n_head}x{config.n_embd} (random weights, greedy, "
             f"no stop token: every problem writes its whole target length)"]
    rows = []
    split = "ood" if config.has_ood_split() else "test"
    if args.decode_problems:
        examples = sample_examples(task, split, args.decode_problems, config.format, split_rng(args.seed, split),
                                   config.options())
        prompts = [tokenizer.encode(prompt_text(example)) for example in examples]
        new_tokens = args.new_tokens or max(len(tokenizer.encode(example.target)) + 1 for example in examples)
        rates = []
        for name, decode, n in (("key/value cache", generate, len(examples)),
                                ("recomputing every prefix", generate_by_recomputing,
                                 min(args.recompute_problems, len(examples)))):
            layouts = decoding_layouts(model.config, task, config.format, tokenizer, examples[:n])
            started = time.perf_counter()
            decode(model, prompts[:n], new_tokens, None, layouts=layouts)
            elapsed = time.perf_counter() - started
            rates.append(n / elapsed)
            rows.append([name, "just beyond the training sizes" if split == "ood" else "held-out", n, new_tokens, f"{elapsed:.2f}", f"{n / elapsed:.3g}"])
        rows.append(["speed-up of the cache", "", "", "", "", f"{rates[0] / rates[1]:.1f}x"])
    if args.eval_problems:
        examples = sample_examples(task, "test", args.eval_problems, config.format, split_rng(args.seed, "test"),
                                   config.options())
        started = time.perf_counter()
        decode_answers(model, task, examples, config.format)
        elapsed = time.perf_counter() - started
        rows.append(["evaluation (minipad.evaluate)", "held-out, training sizes", len(examples), "to eos or budget",
                     f"{elapsed:.2f}", f"{len(examples) / elapsed:.3g}"])
    lines.append(format_table(["decoding", "problems", "n", "new tokens", "seconds", "problems/s"], rows,
                              align=["<", "<", ">", ">", ">", ">"]))
    return "\n".join(lines)


def _time_to_accuracy(args) -> str:
    """Train the default recipe once per seed; minutes until the held-out accuracy reached each target."""
    from .checkpoint import load_model
    rows = []
    for seed in args.seeds:
        config = replace(bench_config(args), seed=seed, max_steps=args.max_steps, eval_every=args.eval_every,
                         eval_problems=args.tta_problems, test_problems=args.tta_problems, ood_problems=0,
                         out=os.path.join(args.out, f"time-to-accuracy-seed{seed}"))
        config.warmup_steps = min(config.warmup_steps, config.max_steps)
        config.validate()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # training's progress lines
            report = train(config, force=True, log=lambda *_: None, progress=False)
        wall = time.perf_counter() - started
        _, _, _, meta = load_model(os.path.join(config.out, "model.npz"))
        minutes_per_step = meta["train_seconds"] / 60 / max(1, meta["step"])
        reached = []
        for target in TARGETS:
            step = next((step for step, accuracy in meta["evaluations"] if accuracy >= target), None)
            reached.append("-" if step is None else f"{step * minutes_per_step:.1f} (step {step})")
        final = report["splits"].get("test", {}).get("answer_accuracy", float("nan"))
        rows.append([seed, meta["step"], f"{meta['train_seconds'] / 60:.1f}", f"{wall / 60:.1f}", *reached,
                     f"{100 * final:.1f}"])
    headers = ["seed", "steps", "train min", "wall min"] + [f"min to {100 * t:g}%" for t in TARGETS] \
        + [f"final % ({args.tta_problems:,} held-out)"]
    config = bench_config(args)
    return (f"time to accuracy: {config.task} {config.format}, {config.n_layer}x{config.n_head}x{config.n_embd}, "
            f"batch {config.batch_size}, {args.max_steps} steps; accuracy measured every {args.eval_every} steps on "
            f"{args.tta_problems} held-out problems (training minutes, evaluation excluded)\n"
            + format_table(headers, rows))


def matmul_gflops(n: int = 1024, repeats: int = 5, n_at_once: int = 1) -> float:
    """GFLOP/s of an n x n float32 product (2 n^3 FLOPs), the best of `repeats` runs.

    With n_at_once > 1, that many products run at the same time (in threads: a product this large spends
    all its time in BLAS, outside the interpreter lock) and the total rate is returned: the peak that
    data parallelism over that many workers could reach.
    """
    rng = np.random.default_rng(0)
    operands = [(rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32),
                 np.empty((n, n), dtype=np.float32)) for _ in range(n_at_once)]

    def product(index):
        a, b, out = operands[index]
        np.matmul(a, b, out=out)

    product(0)  # first call: page in the memory, start the BLAS threads
    best = float("inf")
    with ThreadPoolExecutor(max_workers=n_at_once) as executor:
        for _ in range(repeats):
            time.sleep(0.02)
            start = time.perf_counter()
            if n_at_once == 1:
                product(0)
            else:
                list(executor.map(product, range(n_at_once)))
            best = min(best, time.perf_counter() - start)
    return n_at_once * 2 * n**3 / best / 1e9


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
    config = bench_config(args)
    scheme = args.scheme or "the training defaults"
    return (f"minipad bench: {config.task} {config.format} training batches of {config.batch_size} problems "
            f"({scheme}: position={config.position}, ids={config.position_ids}, places={config.places}, "
            f"roles={config.roles}, line window={config.line_window}), float32, median (and best) of {args.steps} "
            f"steps after {args.warmup} warm-up\n"
            f"step = loss_and_grads + AdamW (minipad.parallel); rows = packed problems or padded rows; "
            f"workers = processes splitting the rows; peak MiB = a step's allocations in one process; "
            f"speed-up against the first row of each size\n"
            f"NumPy {environment['numpy']}, BLAS {environment['blas']}, {environment['cpus']} CPUs, {variables}\n"
            f"FLOPs per step = sum over problems of 6*N*t + 12*L*t^2*C, N = 12*L*C^2 + V*C (t: a problem's tokens)")


def _matmul_line(matmul: dict, blas_setting: str) -> str:
    rates = ", ".join(f"{rate:.1f} GFLOP/s with {n} product{'s' if n > 1 else ''} at once"
                      for n, rate in matmul.items())
    return f"float32 matmul peak (BLAS threads {blas_setting}): {rates}"


def descendants(pid: int) -> list[int]:
    """The processes started by pid, by its children and so on (Linux's /proc; [] elsewhere)."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                with open(f"/proc/{parent}/task/{thread}/children") as children:
                    stack += [int(child) for child in children.read().split()]
            except (OSError, ValueError):
                continue
        if parent != pid:
            found.append(parent)
    return found


class OtherCpuUse:
    """How busy other programs kept the CPUs between creation and `share()` (Linux; elsewhere None).

    The share is (CPU time spent by the whole machine - CPU time spent by this process and the processes
    it started, e.g. worker processes) / (elapsed time x number of CPUs), from /proc. On a shared machine it
    explains slow, noisy timings. A process of ours that ends between the two snapshots and was not waited
    for is counted as another program's.
    """

    def __init__(self):
        self.start = self._snapshot()

    def _snapshot(self):
        try:
            with open("/proc/stat") as stat:
                fields = [int(field) for field in stat.readline().split()[1:]]
            ticks_per_second = os.sysconf("SC_CLK_TCK")
            own_ticks = 0
            for pid in descendants(os.getpid()):
                with open(f"/proc/{pid}/stat") as stat:
                    after_name = stat.read().rsplit(")", 1)[1].split()
                own_ticks += int(after_name[11]) + int(after_name[12])  # utime, stime
        except (OSError, ValueError, AttributeError, IndexError):
            return None
        idle = fields[3] + fields[4]  # idle and waiting for input/output
        busy = sum(fields[:8]) - idle  # user, nice, system, idle, iowait, irq, softirq, steal
        own = os.times()  # children_*: the children already waited for, no longer among the descendants
        return (time.perf_counter(), busy / ticks_per_second,
                own.user + own.system + own.children_user + own.children_system + own_ticks / ticks_per_second)

    def share(self) -> float | None:
        end = self._snapshot()
        if self.start is None or end is None:
            return None
        elapsed = end[0] - self.start[0]
        others = (end[1] - self.start[1]) - (end[2] - self.start[2])
        cpus = os.cpu_count() or 1
        return min(1.0, max(0.0, others / (elapsed * cpus))) if elapsed > 0 else None


def _print_peak_rss() -> None:
    """The peak resident memory so far (Linux and macOS), everything included, of this process and of each
    of its worker processes (Linux)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB
    workers = [_peak_rss_of(pid) for pid in descendants(os.getpid())]
    workers = [f"{peak / 2**20:.0f}" for peak in workers if peak is not None]
    print(f"peak resident memory so far: this process {peak_bytes / 2**20:.0f} MiB"
          + (f", its worker processes {' + '.join(workers)} MiB" if workers else ""))


def _peak_rss_of(pid: int) -> int | None:
    """Peak resident bytes of another process (Linux's VmHWM), or None."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _print_other_cpu_use(share: float | None, label: str = "") -> None:
    if share is None:
        return
    print(f"other processes used {100 * share:.0f}% of the CPU time during the run{label}"
          + (": the timings are slower and noisier than on an idle machine" if share > 0.1 else ""))


def _run_per_blas_setting(args) -> int:
    """Run the step benchmark in a child process per BLAS thread count; print one combined table."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    forwarded = ["--sizes", ",".join(f"{l}x{h}x{c}" for l, h, c in args.sizes), "--batch", str(args.batch),
                 "--steps", str(args.steps), "--warmup", str(args.warmup), "--pause", str(args.pause),
                 "--workers", ",".join(map(str, args.workers)),
                 "--padded-workers", ",".join(map(str, args.padded_workers)),
                 "--matmul-size", str(args.matmul_size), "--seed", str(args.seed), "--json"]
    if args.scheme:
        forwarded += ["--scheme", args.scheme]
    rows, matmul_lines, environment, other_shares = [], [], None, []
    for blas_threads in args.blas_threads:
        env = dict(os.environ, **{variable: str(blas_threads) for variable in BLAS_THREAD_VARIABLES})
        env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
        child = subprocess.run([sys.executable, "-m", "minipad", "bench", *forwarded], env=env,
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
