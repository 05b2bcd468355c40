"""minipad against PyTorch on the CPU: the same model, the same batches, one training step each, side by side.

    pip install torch          # by hand: torch is never a dependency of minipad
    python benchmarks/vs_torch.py [--sizes 2x4x64,4x4x128] [--scheme coupled+places+roles+window] [--steps 10]

What it does:
  1. Builds a minipad model and copies its weights into the same model written in PyTorch (embeddings,
     pre-LayerNorm blocks with rotary positions, the attention mask of the layout, tanh GELU, tied head,
     masked cross-entropy, AdamW with the same decay groups and hyperparameters).
  2. Checks, on one batch in float64, that both give the same loss and the same gradient for every
     parameter (minipad as training runs it, packed; relative errors printed; it stops beyond 1e-9).
  3. Times full float32 training steps (loss, gradients, AdamW) of both on the same real training batches,
     alternating step by step, each library in its own process so that their threads do not fight:
       minipad packed    what `python -m minipad train` runs: problems packed into rows, 2 processes
       minipad padded    the padded batch as it is: the same work PyTorch does
       torch-N           PyTorch eager, the padded batch with an additive mask, torch.set_num_threads(N)
                         for each N of --torch-threads (default 1,2: on a busy machine torch's threads
                         wait for each other, and one thread can be the faster)
     and prints the median and best step times and the fastest torch's time over each row's (above 1:
     that row is faster than PyTorch).

Without torch installed it says so and exits with status 0.
"""
from __future__ import annotations

import os
import sys

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # minipad: one BLAS thread per process

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

MINIPAD_WORKERS = 2
CHECK_TOLERANCE = 1e-9  # float64: both sides compute the same sums, in a different order


# ------------------------------------------------------------------------------- the PyTorch model
def torch_step_function(torch, config, params, decay_names, dtype):
    """(step(batch) -> loss, loss_and_grads(batch) -> (loss, grads)) of the model written in PyTorch.

    batch: dict of numpy arrays ids, targets, mask, and the layout's positions, places, lines, roles.
    """
    F = torch.nn.functional
    C, NH, HS = config["n_embd"], config["n_head"], config["n_embd"] // config["n_head"]
    P = {name: torch.tensor(value, dtype=dtype, requires_grad=True) for name, value in params.items()}
    frequencies = 10000.0 ** (-torch.arange(0, HS, 2, dtype=torch.float64) / HS)
    groups = [{"params": [P[n] for n in P if n in decay_names], "weight_decay": 0.1},
              {"params": [P[n] for n in P if n not in decay_names], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8)

    def loss_of(batch):
        ids = torch.from_numpy(batch["ids"])
        B, T = ids.shape
        positions = torch.from_numpy(batch["positions"]) if "positions" in batch else torch.arange(T).expand(B, T)
        x = P["wte.weight"][ids]
        if config["position"] == "learned":
            x = x + P["wpe.weight"][positions]
        if config["places"]:
            x = x + P["wplace.weight"][torch.from_numpy(batch["places"])]
        if config["roles"]:
            x = x + P["wrole.weight"][torch.from_numpy(batch["roles"])]
        visible = torch.ones(T, T, dtype=torch.bool).tril()[None]  # (1,T,T), causal
        if config["line_window"]:
            lines = torch.from_numpy(batch["lines"])
            visible = visible & (lines[:, None, :] >= lines[:, :, None] - 1)
        bias = torch.zeros(visible.shape, dtype=dtype).masked_fill(~visible, float("-inf"))[:, None]
        if config["position"] == "rope":
            angles = positions.to(torch.float64)[..., None] * frequencies  # (B,T,HS/2)
            cos, sin = angles.cos().to(dtype)[:, None], angles.sin().to(dtype)[:, None]
        for layer in range(config["n_layer"]):
            p = {name[len(f"h.{layer}."):]: value for name, value in P.items() if name.startswith(f"h.{layer}.")}
            h = F.layer_norm(x, (C,), p["ln1.gain"], p["ln1.bias"], eps=1e-5)
            qkv = (h @ p["attn.qkv.weight"] + p["attn.qkv.bias"]).view(B, T, 3, NH, HS).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (B,NH,T,HS)
            if config["position"] == "rope":
                def rotate(t):  # neighbouring pairs (x[2i], x[2i+1]), as minipad/nn/rope.py
                    even, odd = t[..., 0::2], t[..., 1::2]
                    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)
                q, k = rotate(q), rotate(k)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # softmax(q k^T / sqrt(HS) + bias) v
            y = y.transpose(1, 2).reshape(B, T, C)
            x = x + (y @ p["attn.proj.weight"] + p["attn.proj.bias"])
            h = F.layer_norm(x, (C,), p["ln2.gain"], p["ln2.bias"], eps=1e-5)
            h = F.gelu(h @ p["mlp.fc.weight"] + p["mlp.fc.bias"], approximate="tanh")
            x = x + (h @ p["mlp.proj.weight"] + p["mlp.proj.bias"])
        x = F.layer_norm(x, (C,), P["ln_f.gain"], P["ln_f.bias"], eps=1e-5)
        head = P["wte.weight"] if config["tie_weights"] else P["head.weight"]
        logits = x @ head.T  # (B,T,V)
        mask = torch.from_numpy(batch["mask"]).to(dtype)
        targets = torch.from_numpy(np.where(batch["mask"] != 0, batch["targets"], 0))
        nll = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1), reduction="none")
        return (nll * mask.reshape(-1)).sum() / mask.sum()

    def loss_and_grads(batch):
        for tensor in P.values():
            tensor.grad = None
        loss = loss_of(batch)
        loss.backward()
        return float(loss.detach()), {name: tensor.grad.numpy().copy() for name, tensor in P.items()}

    def step(batch):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(batch)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step, loss_and_grads


# ------------------------------------------------------------------------------- worker processes
def worker(kind: str, folder: str) -> None:
    """Serve steps on stdin: 'check' (float64 loss and gradients) or 'step <i>' (a timed float32 step)."""
    with open(os.path.join(folder, "setup.json")) as file:
        setup = json.load(file)
    config = setup["config"]
    params = dict(np.load(os.path.join(folder, "params.npz")))
    batches = [dict(np.load(os.path.join(folder, f"batch{index}.npz"))) for index in range(setup["batches"])]
    check_batch = dict(np.load(os.path.join(folder, "check.npz")))
    if kind.startswith("torch"):
        import torch
        torch.set_num_threads(int(kind.split("-")[1]))
        torch.set_num_interop_threads(1)
        step, _ = torch_step_function(torch, config, params, set(setup["decay_names"]), torch.float32)
        _, check = torch_step_function(torch, config, params, set(setup["decay_names"]), torch.float64)
    else:
        step, check = minipad_step_function(config, params, packed=(kind == "minipad-packed"))
    for line in sys.stdin:
        command = line.split()
        if command[0] == "check":
            loss, grads = check(check_batch)
            np.savez(os.path.join(folder, f"check-{kind}.npz"), loss=loss, **grads)
            print(json.dumps({"loss": loss}), flush=True)
        else:
            batch = batches[int(command[1]) % len(batches)]
            started = time.perf_counter()
            loss = step(batch)
            print(json.dumps({"seconds": time.perf_counter() - started, "loss": loss}), flush=True)


def minipad_step_function(config, params, packed):
    from minipad.malloc import keep_freed_memory
    from minipad.model import GPT, GPTConfig, TokenLayout
    from minipad.optim import AdamW
    from minipad.parallel import parallel_loss_and_grads
    keep_freed_memory()

    def build(dtype):
        model = GPT(GPTConfig(**{**config, "dtype": dtype}), np.random.default_rng(0))
        model.params = {name: value.astype(dtype) for name, value in params.items()}
        return model

    model, model64 = build("float32"), build("float64")
    optimizer = AdamW.for_model(model, weight_decay=0.1)

    def layout_of(batch):
        fields = {name: batch[name] for name in ("positions", "places", "lines", "roles") if name in batch}
        return TokenLayout(**fields) if fields else None

    def step(batch):
        loss, grads = parallel_loss_and_grads(model, batch["ids"], batch["targets"], batch["mask"], MINIPAD_WORKERS,
                                              layout_of(batch), packed=packed)
        optimizer.step(model.params, grads, lr=1e-4)
        return loss

    def check(batch):  # the path training runs: packed rows, split over processes
        return parallel_loss_and_grads(model64, batch["ids"], batch["targets"], batch["mask"], MINIPAD_WORKERS,
                                       layout_of(batch))

    return step, check


# ------------------------------------------------------------------------------- the parent
def prepare(folder, size, args):
    """Model weights and batches for one size, written to folder; returns the setup."""
    from dataclasses import asdict, replace

    from minipad.bench import bench_config, bench_model, training_batches
    bench_args = argparse.Namespace(scheme=args.scheme, batch=args.batch, seed=args.seed)
    config = bench_config(bench_args, size)
    model = bench_model(config, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    for array in model.params.values():  # away from the initialisation, so that every gradient is sizeable
        array += (rng.standard_normal(array.shape) * 0.1).astype(array.dtype)
    np.savez(os.path.join(folder, "params.npz"), **model.params)
    batches = training_batches(replace(config, seed=args.seed), model, count=4)
    for index, (ids, targets, mask, layout, _) in enumerate(batches):
        arrays = dict(ids=ids, targets=targets, mask=mask)
        if layout is not None:
            arrays.update({name: value for name, value in layout._asdict().items() if value is not None})
        np.savez(os.path.join(folder, f"batch{index}.npz"), **arrays)
        if index == 0:  # the gradient check: the first 4 problems, float64
            np.savez(os.path.join(folder, "check.npz"), **{name: value[:4] for name, value in arrays.items()})
    setup = {"config": asdict(model.config), "decay_names": sorted(model.decay_names()), "batches": len(batches),
             "real_tokens": statistics.mean(int(batch[4].sum()) for batch in batches),
             "padded_tokens": statistics.mean(batch[0].size for batch in batches)}
    with open(os.path.join(folder, "setup.json"), "w") as file:
        json.dump(setup, file)
    return setup


def compare_gradients(folder, torch_kind) -> tuple[float, float, str]:
    mine = dict(np.load(os.path.join(folder, "check-minipad-packed.npz")))
    theirs = dict(np.load(os.path.join(folder, f"check-{torch_kind}.npz")))
    loss_error = abs(float(mine.pop("loss")) - float(theirs["loss"])) / abs(float(theirs.pop("loss")))
    errors = {name: float(np.linalg.norm(mine[name] - theirs[name]) / max(np.linalg.norm(theirs[name]), 1e-300))
              for name in mine}
    worst = max(errors, key=errors.get)
    return loss_error, errors[worst], worst


def run_size(size, args):
    from minipad.bench import OtherCpuUse
    with tempfile.TemporaryDirectory() as folder:
        setup = prepare(folder, size, args)
        kinds = ["minipad-packed", "minipad-padded"] + [f"torch-{n}" for n in args.torch_threads]
        processes = {kind: subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", kind, folder],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                     for kind in kinds}

        def ask(kind, command):
            processes[kind].stdin.write(command + "\n")
            processes[kind].stdin.flush()
            reply = processes[kind].stdout.readline()
            if not reply:
                raise SystemExit(f"the {kind} worker stopped (see its error above)")
            return json.loads(reply)

        try:
            for kind in ("minipad-packed", kinds[-1]):
                ask(kind, "check")
            loss_error, grad_error, worst = compare_gradients(folder, kinds[-1])
            print(f"{size[0]}x{size[1]}x{size[2]}: float64 check on one batch of 4 problems: loss relative error "
                  f"{loss_error:.1e}, worst gradient relative error {grad_error:.1e} ({worst})")
            if max(loss_error, grad_error) > CHECK_TOLERANCE:
                raise SystemExit(f"minipad and PyTorch disagree beyond {CHECK_TOLERANCE:g}: not timing them")
            seconds = {kind: [] for kind in kinds}
            meter = OtherCpuUse()  # counts the workers and their own worker processes as ours
            for round_index in range(args.warmup + args.steps):
                for kind in kinds:  # alternate, on the same batch
                    time.sleep(args.pause)
                    result = ask(kind, f"step {round_index}")
                    if round_index >= args.warmup:
                        seconds[kind].append(result["seconds"])
            share = meter.share()
        finally:
            for process in processes.values():
                process.stdin.close()
                process.wait()
    torch_kinds = [kind for kind in kinds if kind.startswith("torch")]
    torch_median = min(statistics.median(seconds[kind]) for kind in torch_kinds)
    torch_best = min(min(seconds[kind]) for kind in torch_kinds)
    rows = []
    for kind in kinds:
        median, best = statistics.median(seconds[kind]), min(seconds[kind])
        rows.append([f"{size[0]}x{size[1]}x{size[2]}", kind, f"{1000 * median:.1f}", f"{1000 * best:.1f}",
                     f"{setup['real_tokens'] / median:.0f}", f"{setup['padded_tokens'] / median:.0f}",
                     f"{torch_median / median:.2f}", f"{torch_best / best:.2f}"])
    return rows, share


def main(argv=None) -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return 0
    from minipad.cli.bench import parse_sizes
    from minipad.config import TrainConfig
    from minipad.table import format_table
    default = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=parse_sizes,
                        default=parse_sizes(f"{default.n_layer}x{default.n_head}x{default.n_embd},4x4x128"),
                        help="model sizes LAYERSxHEADSxWIDTH, comma-separated (default: the default model's and 4x4x128)")
    parser.add_argument("--scheme", default=None, help="a scheme of `python -m minipad lengths` (default: the "
                                                       "training defaults)")
    parser.add_argument("--batch", type=int, default=default.batch_size, help="problems per batch (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per contender; median and best shown (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per contender first (default: %(default)s)")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds of rest before each timed step (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batches (default: %(default)s)")
    parser.add_argument("--torch-threads", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2],
                        help="torch.set_num_threads values to time, one process each (default: 1,2)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("torch") is None:
        print("vs_torch: PyTorch is not installed, so there is nothing to compare with; install it by hand "
              "(pip install torch) to run this comparison. minipad itself never needs it.")
        return 0
    print(f"minipad against PyTorch eager: training steps on the same batches of {args.batch} problems "
          f"({args.scheme or 'the training defaults'}), float32, alternating, median and best of {args.steps} "
          f"after {args.warmup} warm-up; minipad {MINIPAD_WORKERS} processes x 1 BLAS thread, torch-N: N "
          f"threads; ratio = the fastest torch's time / this row's time")
    rows, shares = [], []
    for size in args.sizes:
        size_rows, share = run_size(size, args)
        rows += size_rows
        shares.append(share)
    print(format_table(["size", "contender", "ms/step", "best ms", "real tok/s", "padded tok/s",
                        "fastest torch/this (median)", "fastest torch/this (best)"], rows))
    if all(share is not None for share in shares):
        print(f"other programs used {', '.join(f'{100 * share:.0f}%' for share in shares)} of the CPU time during "
              f"the timings" + (": slower and noisier than on an idle machine" if max(shares) > 0.1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
