"""The length experiment: train position schemes under one budget, then add sums longer than any seen.

    python -m minipad lengths                 # the default schemes, 3 seeds each; prints one table
    python -m minipad lengths --quick         # one seed, a short budget: a first look in minutes

Every run trains on the training sizes only (addition: 1-8 digit sums, the paper's setting) with the same
model, steps, batch and schedule; only how positions are told differs (minipad/positions.py). Each is
then evaluated inside the training sizes and at each longer size (one operand exactly that long, the
other 1..that many digits), with answer accuracy (the paper's exact match) and whole-target accuracy
(every scratchpad line right too). A cell shows the median over the seeds and, with several seeds, the
range. The direct baseline (the answer alone, plain positions) shows what the scratchpad adds.

Runs are saved under --out, one folder per scheme and seed; running the command again reuses every run
that finished (its eval.json) with the same settings, so an interrupted experiment continues.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict

from .checkpoint import write_text_atomically
from .config import PLAIN_POSITIONS, TrainConfig
from .data import encode_example
from .errors import UserError
from .table import format_table
from .tasks import get_task

# name -> (format, TrainConfig settings): how each scheme tells positions (see minipad/positions.py)
SCHEMES = {
    "direct": ("direct", dict(position="rope")),
    "rope": ("scratchpad", dict(position="rope")),
    "learned": ("scratchpad", dict(position="learned")),
    "random": ("scratchpad", dict(position="rope", position_ids="random")),
    "places": ("scratchpad", dict(position="rope", places=33)),
    "nope+places": ("scratchpad", dict(position="none", places=33)),
    "coupled": ("scratchpad", dict(position="rope", position_ids="coupled")),
    "coupled+places": ("scratchpad", dict(position="rope", position_ids="coupled", places=33)),
    "coupled+places+roles": ("scratchpad", dict(position="rope", position_ids="coupled", places=33, roles=8)),
    "coupled+places+roles+window": ("scratchpad", dict(position="rope", position_ids="coupled", places=33,
                                                        roles=8, line_window=True)),
}
DEFAULT_SCHEMES = ("direct", "rope", "places", "coupled+places+roles+window")
DEFAULT_SIZES = (9, 10, 12, 16, 20)
QUICK = dict(schemes=("direct", "rope", "coupled+places+roles+window"), seeds=(0,), sizes=(9, 10, 12),
             max_steps=1500, test_problems=200, problems_per_size=100)


def scheme_config(name: str, seed: int, base: dict, out: str) -> TrainConfig:
    """The TrainConfig of one run: the shared settings, plain positions, then what the scheme switches on
    (the defaults are the table layout, so a scheme starts from plain), the seed and the run's folder."""
    format, settings = SCHEMES[name]
    return TrainConfig(**{**base, **PLAIN_POSITIONS, **settings, "format": format, "seed": seed,
                          "out": os.path.join(out, f"{name}-seed{seed}")})


def run_one(config: TrainConfig, log) -> dict:
    """Train (or reuse the finished run with the same settings) and return its report."""
    from .train import train
    report_path = os.path.join(config.out, "lengths.json")
    if os.path.exists(report_path):
        with open(report_path) as file:
            saved = json.load(file)
        if saved.get("config") == asdict(config):
            log(f"reusing {config.out} (finished with the same settings)")
            return saved["report"]
    started = time.perf_counter()
    report = train(config, force=True, log=lambda *args: None, progress=False)
    report["wall_minutes"] = (time.perf_counter() - started) / 60
    write_text_atomically(report_path, json.dumps({"config": asdict(config), "report": report}))
    return report


def cell(values: list[float]) -> str:
    """Median in percent, with the range when there are several values: '93.5 (90.0-97.0)'."""
    if not values:
        return "-"
    median = 100 * statistics.median(values)
    if len(values) == 1:
        return f"{median:.1f}"
    return f"{median:.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


def lengths_table(results: dict, sizes, in_label: str) -> str:
    """One row per scheme: answer % and whole-target % in distribution and at each longer size."""
    headers = ["scheme", "seeds", f"{in_label} answer", f"{in_label} target"]
    for size in sizes:
        headers += [f"{size} answer", f"{size} target"]
    headers += ["steps", "train min"]
    rows = []
    for name, reports in results.items():
        row = [name, len(reports)]
        groups = [[r["splits"].get("test") for r in reports]]
        groups += [[r["by_size"].get(str(size)) for r in reports] for size in sizes]
        for group in groups:
            present = [g for g in group if g]
            row += [cell([g["answer_accuracy"] for g in present]), cell([g["target_accuracy"] for g in present])]
        row += [statistics.median(r["step"] for r in reports),
                f"{statistics.median(r['train_minutes'] for r in reports):.1f}"]
        rows.append(row)
    return format_table(headers, rows)


def run_lengths(schemes, seeds, sizes, base: dict, out: str, problems_per_size: int, log=print) -> dict:
    """Train every scheme with every seed; returns {scheme: [report per seed]}."""
    unknown = [name for name in schemes if name not in SCHEMES]
    if unknown:
        raise UserError(f"unknown scheme {unknown[0]!r}: choose from {', '.join(SCHEMES)}")
    task = get_task(base.get("task") or TrainConfig().task)
    if "ood_digits" not in task.option_names():
        raise UserError(f"the lengths experiment tests longer sizes through --ood-digits, an option the {task.name} "
                        f"task does not have")
    results = {}
    for name in schemes:
        results[name] = []
        for seed in seeds:
            task_options = {**base.get("task_options", {}), "ood_digits": ",".join(map(str, sizes))}
            config = scheme_config(name, seed, {**base, "task_options": task_options,
                                                "ood_problems": problems_per_size * len(sizes)}, out)
            config.block_size = max(config.block_size, block_size_for(config))
            config.validate()
            log(f"{name}, seed {seed}: training ({config.out})")
            report = run_one(config, log)
            results[name].append(report)
            test = report["splits"].get("test", {})
            log(f"{name}, seed {seed}: {report['step']} steps in {report['train_minutes']:.1f} min; "
                f"in distribution {100 * test.get('answer_accuracy', float('nan')):.1f}%, "
                + ", ".join(f"{size}: {100 * report['by_size'][str(size)]['answer_accuracy']:.1f}%"
                            for size in sizes if str(size) in report["by_size"]))
    return results


def block_size_for(config: TrainConfig) -> int:
    """The longest sequence of the config's out-of-distribution sets, in tokens (with its end-of-text)."""
    task = get_task(config.task)
    tokenizer = task.tokenizer()
    longest = 0
    for options in task.ood_option_sets(config.options()):
        example = task.render(task.longest_problem(options), config.format)
        longest = max(longest, len(encode_example(tokenizer, example)[0]))
    return longest


def lengths_experiment(schemes, seeds, sizes, base: dict, out: str, problems_per_size: int) -> dict:
    """Train every scheme with every seed (run_lengths), print one table and save the results as
    lengths.json in ``out``; returns them."""
    started = time.perf_counter()
    results = run_lengths(schemes, seeds, sizes, base, out, problems_per_size)
    example = scheme_config(schemes[0], seeds[0], base, out)
    options = example.options()
    in_label = f"{getattr(options, 'min_digits', '')}-{getattr(options, 'max_digits', '')}"
    print()
    print(f"trained on {in_label} digit sums; a longer size n: one operand exactly n digits, the other 1..n; "
          f"{problems_per_size} problems per size, {example.test_problems} in distribution; "
          f"answer % (the paper's exact match) and target % (every scratchpad line right); "
          f"median over seeds {','.join(map(str, seeds))} (range)")
    print(lengths_table(results, sizes, in_label))
    print(f"{len(schemes) * len(seeds)} runs, {(time.perf_counter() - started) / 60:.1f} min of wall time; "
          f"runs saved in {out}")
    write_text_atomically(os.path.join(out, "lengths.json"), json.dumps(results, indent=1))
    return results
