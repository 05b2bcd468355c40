"""A run's training curves, drawn again from the files training saved (the plot command).

A run folder (e.g. runs/addition-scratchpad) holds, beside the checkpoint model.npz:

    loss.csv       step, loss, lr, grad_norm      one row per training step
    progress.csv   step, answer_accuracy          one row per progress evaluation (held-out problems, 0 to 1)
    eval.json      the final evaluation

plot draws the loss curve and the held-out answer accuracy over training in the terminal (braille plots,
minipad/plot.py), or as a standalone SVG picture with --svg (minipad/svg.py); --compare draws two runs on
shared axes, e.g. the direct model against the scratchpad model:

    python -m minipad plot runs/addition-scratchpad
    python -m minipad plot --compare runs/compare/addition-direct runs/compare/addition-scratchpad --svg runs.svg

Runs saved before progress.csv existed still have their progress evaluations in the checkpoint: they are
read from there.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass

from .checkpoint import load_checkpoint
from .errors import UserError
from .plot import overlay_plot
from .svg import Series, document, line_chart


@dataclass
class RunCurves:
    """What one run folder says about its training."""
    folder: str
    task: str | None        # from the checkpoint's configuration (None without a checkpoint)
    format: str | None
    steps: list             # the steps of loss.csv
    losses: list            # the training loss at each of those steps
    progress_steps: list    # the steps of the progress evaluations
    accuracies: list        # held-out answer accuracy at each, a fraction from 0 to 1
    train_minutes: float | None
    final_accuracy: float | None   # eval.json's in-distribution answer accuracy, if there is one

    @property
    def name(self) -> str:
        """How the legend names the run: its folder, then the task and the format when known."""
        return self.folder if self.task is None else f"{self.folder} ({self.task}, {self.format})"


def _read_csv(path: str, columns: tuple[str, ...]) -> list[list[float]]:
    """The named leading columns of a CSV file written by train, as numbers; UserError if it is damaged."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    if not rows or tuple(rows[0][:len(columns)]) != columns:
        raise UserError(f"{path} does not start with the header {','.join(columns)}: it was not written by "
                        f"minipad train")
    values = []
    for line_number, row in enumerate(rows[1:], start=2):
        try:
            values.append([float(cell) for cell in row[:len(columns)]])
            if len(values[-1]) != len(columns) or not all(math.isfinite(v) for v in values[-1]):
                raise ValueError
        except ValueError:
            raise UserError(f"{path} is damaged at line {line_number}: {','.join(row)!r}") from None
    steps = [row[0] for row in values]
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        raise UserError(f"{path} is damaged: its steps do not increase")
    return values


def read_run(folder: str) -> RunCurves:
    """The curves of the run in ``folder``; UserError naming what is missing or damaged."""
    if not os.path.exists(folder):
        raise UserError(f"no run folder {folder}: give a folder written by 'python -m minipad train' "
                        f"(its --out, by default runs/<task>-<format>)")
    if not os.path.isdir(folder):
        raise UserError(f"{folder} is a file, not a run folder: give the folder that holds loss.csv")
    loss_path = os.path.join(folder, "loss.csv")
    if not os.path.exists(loss_path):
        raise UserError(f"{folder} holds no loss.csv: give a folder written by 'python -m minipad train'")
    loss_rows = _read_csv(loss_path, ("step", "loss"))
    if not loss_rows:
        raise UserError(f"{loss_path} holds no steps yet: plot it once training has saved its first checkpoint")
    task = format = minutes = None
    progress = []
    checkpoint = os.path.join(folder, "model.npz")
    meta = load_checkpoint(checkpoint)[1] if os.path.exists(checkpoint) else None
    if isinstance(meta, dict) and isinstance(meta.get("train_config"), dict):
        task, format = meta["train_config"].get("task"), meta["train_config"].get("format")
        minutes = meta.get("train_seconds", 0.0) / 60
    progress_path = os.path.join(folder, "progress.csv")
    if os.path.exists(progress_path):
        progress = _read_csv(progress_path, ("step", "answer_accuracy"))
    elif isinstance(meta, dict):   # a run saved before progress.csv existed: its checkpoint has them
        progress = [[float(step), float(accuracy)] for step, accuracy in meta.get("evaluations", [])]
    final = None
    eval_path = os.path.join(folder, "eval.json")
    if os.path.exists(eval_path):
        try:
            with open(eval_path, encoding="utf-8") as file:
                final = float(json.load(file)["splits"]["test"]["answer_accuracy"])
        except (OSError, ValueError, KeyError, TypeError):
            final = None   # no in-distribution evaluation (or an unreadable one): the curves do not need it
    return RunCurves(folder, task, format, [int(row[0]) for row in loss_rows], [row[1] for row in loss_rows],
                     [int(row[0]) for row in progress], [row[1] for row in progress], minutes, final)


def describe(run: RunCurves) -> str:
    """One line on a run: what it learned, how long, and how well it ended."""
    text = run.folder + (f": {run.task}, {run.format}" if run.task else "")
    text += f"; {run.steps[-1]:,} steps" + (f" in {run.train_minutes:.1f} min" if run.train_minutes else "")
    if run.accuracies:
        text += f"; last progress evaluation {100 * run.accuracies[-1]:.1f}% (step {run.progress_steps[-1]:,})"
    if run.final_accuracy is not None and not math.isnan(run.final_accuracy):
        text += f"; final evaluation {100 * run.final_accuracy:.1f}% (eval.json)"
    return text


def terminal_plots(runs: list[RunCurves], colour: bool = False) -> str:
    """The loss curves and the accuracy curves of the runs, on shared axes, as braille plots."""
    lines = [f"{number}: {describe(run)}" if len(runs) > 1 else describe(run)
             for number, run in enumerate(runs, start=1)]
    positive = all(loss > 0 for run in runs for loss in run.losses)
    first = min(run.steps[0] for run in runs)
    last = max(run.steps[-1] for run in runs)
    lines.append(f"\ntraining loss ({'log' if positive else 'linear'} scale), steps {first}-{last}")
    lines.append(overlay_plot([(run.steps, run.losses) for run in runs], log_y=positive, colour=colour))
    with_progress = [run for run in runs if run.accuracies]
    if with_progress:
        lines.append("\nheld-out answer accuracy (%) at the progress evaluations")
        lines.append(overlay_plot([(run.progress_steps, [100 * a for a in run.accuracies]) for run in with_progress],
                                  y_range=(0, 100), x_range=(first, last), colour=colour))
        if len(with_progress) < len(runs):
            lines.append("(no progress evaluation yet in: "
                         + ", ".join(run.folder for run in runs if not run.accuracies) + ")")
    else:
        lines.append("\nno progress evaluation yet (train evaluates every --eval-every steps)")
    if len(runs) > 1:
        lines.append("(the number right of a curve is its run's)")
    return "\n".join(lines)


def svg_picture(runs: list[RunCurves]) -> str:
    """The same two charts as one standalone SVG: the loss above, the accuracy below."""
    width, chart_height = 900, 300
    positive = all(loss > 0 for run in runs for loss in run.losses)
    heading = "training curves: " + " against ".join(run.folder for run in runs)
    charts = [line_chart([Series(run.name, run.steps, run.losses) for run in runs], 0, 0, width, chart_height,
                         f"training loss ({'log' if positive else 'linear'} scale)", "loss", log_y=positive)]
    with_progress = [run for run in runs if run.accuracies]
    if with_progress:
        series = [Series(run.name, run.progress_steps, [100 * a for a in run.accuracies], markers=True)
                  for run in with_progress]
        steps = (min(run.steps[0] for run in runs), max(run.steps[-1] for run in runs))
        charts.append(line_chart(series, 0, chart_height + 10, width, chart_height,
                                 "held-out answer accuracy during training", "answer accuracy %",
                                 y_range=(0, 100), x_range=steps))
    return document(width, len(charts) * (chart_height + 10), heading, charts)
