"""Training: fresh problems every step, AdamW, periodic evaluation, atomic checkpoints, exact resume.

Data. Every batch draws new training problems with the task's options (addition: the paper's 1-8 digits)
from the training side of the held-out split (minipad/data.py). A fixed set of 100,000 problems would be
seen about three times in a default run; fresh draws cost nothing, remove any chance of memorising,
and need no data on disk. The draws come from the run's one random generator, whose state goes into
every checkpoint, so a resumed run draws exactly the batches the uninterrupted run would have drawn.

Budget. ``max_steps`` fixes the number of steps (reproducible to the bit). ``max_minutes`` > 0 also
stops the run when that much training time has passed (evaluation pauses the clock); the cosine
schedule then decays over the estimated number of steps that fit in the time, so the same seed on a
busier machine takes fewer steps.

Checkpoints. ``<out>/model.npz`` is written atomically at every evaluation, at the end, and on Ctrl-C;
it holds the weights, the optimizer moments, the step, the generator's state, the configs and the
vocabulary, so ``--resume`` continues exactly where the run stopped. Beside it, written at the same
moments, ``loss.csv`` (step, loss, lr, grad_norm) and ``progress.csv`` (step, held-out answer accuracy)
are what ``python -m minipad plot`` draws.

Ctrl-C. A step draws its batch, computes the gradients and updates the weights in place; stopped
half-way, the saved generator would be a batch ahead, or some weights updated and the step not
counted. So Ctrl-C only asks the run to stop (StopRequest): the step under way finishes, with its
bookkeeping, then the run saves and stops, and ``--resume`` continues bit for bit as if it had never
stopped. A second Ctrl-C stops at once, without saving the unfinished step; one that comes while a
checkpoint is being written waits until the write has ended, so a checkpoint is never lost. A lock file
keeps a second process from training in, or evaluating into, the same folder at the same time.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from .checkpoint import (RunLock, interrupts_deferred, load_model, pack_rng_state, replaceable_path, save_checkpoint,
                         unpack_rng_state, write_text_atomically)
from .data import make_batch, sample_examples, sample_problem, split_rng
from .errors import UserError
from .evaluate import format_report, quick_accuracy, run_evaluation
from .config import UNLIMITED_STEPS, TrainConfig
from .model import GPT
from .optim import AdamW, clip_grad_norm, lr_at
from .parallel import parallel_loss_and_grads
from .plot import line_plot
from .positions import training_layout
from .prefetch import BatchPrefetcher
from .tasks import get_task

CHECKPOINT_NAME = "model.npz"
OUTPUT_NAMES = (CHECKPOINT_NAME, "loss.csv", "progress.csv", "eval.json")   # what a run writes in its folder


# Settings that may change when a run is resumed: the budget and the evaluation, not what is learned.
RESUMABLE_OVERRIDES = ("max_steps", "max_minutes", "eval_every", "eval_problems", "test_problems",
                       "ood_problems", "workers", "out")


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: nothing after the last good checkpoint is kept."""
    exit_status = 1


class StopRequest:
    """Ctrl-C (SIGINT) during training, taken as a request to stop between steps.

        with StopRequest() as stop:
            while not stop.requested:
                ...one whole step...

    The first Ctrl-C only sets ``requested``; the loop checks it once a step is complete. A second one
    raises KeyboardInterrupt at once. The previous handler is restored on leaving the block. Signals
    reach only the main thread: elsewhere Ctrl-C keeps Python's usual behaviour.
    """

    def __init__(self):
        self.requested = False
        self.installed = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_interrupt)
            self.installed = True
        return self

    def _on_interrupt(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True   # no printing here: the handler may run in the middle of another print

    def __exit__(self, *exception):
        if self.installed:   # None: a handler not set from Python; the default is the nearest to it
            signal.signal(signal.SIGINT, signal.default_int_handler if self.previous is None else self.previous)
            self.installed = False


@dataclass
class RunState:
    """What a run carries from step to step (and into its checkpoint)."""
    step: int = 0
    train_seconds: float = 0.0
    history: list = field(default_factory=list)       # [step, loss, lr, grad_norm] per step
    evaluations: list = field(default_factory=list)   # [step, accuracy] per progress evaluation


def checkpoint_path(config: TrainConfig) -> str:
    return os.path.join(config.out, CHECKPOINT_NAME)


def save_run(config: TrainConfig, model: GPT, optimizer: AdamW, rng, state: RunState) -> None:
    arrays = {f"param.{name}": value for name, value in model.params.items()}
    arrays.update({f"optim.{name}": value for name, value in optimizer.state_dict().items()})
    meta = {
        "train_config": asdict(config),
        "model_config": asdict(model.config),
        "vocabulary": list(get_task(config.task).tokenizer().vocabulary),
        "step": state.step,
        "train_seconds": state.train_seconds,
        "history": state.history,
        "evaluations": state.evaluations,
        "rng": pack_rng_state(rng),
    }
    save_checkpoint(checkpoint_path(config), arrays, meta)
    write_history(config.out, state.history)
    write_progress(config.out, state.evaluations)


def prepare(config: TrainConfig, resume: bool, overrides: dict, force: bool, log=print):
    """The model, optimizer, generator and state to start from: fresh, or from the checkpoint."""
    path = checkpoint_path(config)
    if resume:
        model, saved_config, arrays, meta = load_model(path)
        saved = {**asdict(saved_config), **saved_config.task_options}
        given = {**overrides, **overrides.get("task_options", {})}
        fixed = [key for key, value in given.items() if key not in RESUMABLE_OVERRIDES + ("task_options",)
                 and key in saved and saved[key] != value]
        if fixed:
            name = fixed[0]
            raise UserError(f"--{name.replace('_', '-')} cannot change when resuming (the run was trained with "
                            f"{saved[name]!r}); start a new run in another --out folder")
        for key, value in overrides.items():
            if key == "task_options":   # an option of another task is left in, for validate() to name
                value = {**saved_config.task_options, **value}
            setattr(saved_config, key, value)
        config = saved_config
        for note in config.validate():
            log(f"note: {note}")
        optimizer = AdamW.for_model(model, weight_decay=config.weight_decay)
        optimizer.load_state_dict({k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")})
        rng = unpack_rng_state(meta["rng"])
        state = RunState(meta["step"], meta["train_seconds"], meta["history"], meta["evaluations"])
        return config, model, optimizer, rng, state
    if os.path.exists(path) and not force:
        raise UserError(f"{path} exists: add --resume to continue it, --force to start over, "
                        f"or --out to choose another folder")
    rng = np.random.default_rng(config.seed)
    model = GPT(config.model_config(get_task(config.task).tokenizer().vocab_size), rng)
    optimizer = AdamW.for_model(model, weight_decay=config.weight_decay)
    return config, model, optimizer, rng, RunState()


def check_output_folder(out: str) -> None:
    """UserError unless ``out`` is, or can be made, a writable folder whose outputs can be replaced."""
    probe = os.path.abspath(out)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
        raise UserError(f"cannot write to the output folder {out}: {probe} is not a writable folder; "
                        f"choose another --out")
    for name in OUTPUT_NAMES:   # a device or pipe in their place is refused now, not after training
        replaceable_path(os.path.join(out, name))


def draw_batch(config: TrainConfig, model_config, task, tokenizer, rng, options):
    """(Batch, token layout) of batch_size fresh training problems drawn with ``options`` from ``rng``; the
    layout is None for a model (GPTConfig) that needs plain positions only (minipad/positions.py)."""
    examples = [task.render(sample_problem(task, "train", rng, options), config.format)
                for _ in range(config.batch_size)]
    batch = make_batch(tokenizer, examples)
    return batch, training_layout(model_config, task, config.format, tokenizer, examples, batch, rng)


def learning_rate(config: TrainConfig, state: RunState) -> float:
    """Warmup then cosine over max_steps, or over the steps estimated to fit in max_minutes."""
    total_steps = config.max_steps
    if config.max_minutes > 0 and state.step > config.warmup_steps and state.train_seconds > 0:
        seconds_per_step = state.train_seconds / state.step
        total_steps = min(total_steps, int(config.max_minutes * 60 / seconds_per_step))
    total_steps = max(total_steps, state.step + 1, config.warmup_steps)
    return lr_at(state.step, config.lr, config.warmup_steps, total_steps, config.min_lr)


def budget_left(config: TrainConfig, state: RunState) -> bool:
    if state.step >= config.max_steps:
        return False
    return config.max_minutes <= 0 or state.train_seconds < config.max_minutes * 60


def train(config: TrainConfig, resume: bool = False, overrides: dict | None = None, force: bool = False,
          callback=None, log=print, progress: bool = True, resume_command: str | None = None) -> dict:
    """Run training to the end of its budget, then evaluate; returns the final report (also saved).

    callback(step, loss), if given, is called after every step (lessons and tests use it; raising
    KeyboardInterrupt from it stops the run as Ctrl-C does: after that step, saved). resume_command:
    the command that continues the run, shown when it is interrupted (the caller knows which).
    """
    if resume and force:
        raise UserError("--resume continues the run in --out and --force starts it over: give one of them")
    if resume:
        if not os.path.exists(checkpoint_path(config)):
            raise UserError(f"nothing to resume: {checkpoint_path(config)} does not exist")
    else:
        for note in config.validate():   # a resumed run is validated once its saved config is loaded
            log(f"note: {note}")
        config.check_memory()            # before the model takes any
    check_output_folder(config.out)
    try:
        os.makedirs(config.out, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the output folder {config.out}: {error.strerror}") from None
    with RunLock(config.out, log=log):
        config, model, optimizer, rng, state = prepare(config, resume, overrides or {}, force, log)
        resume_command = resume_command or f"python -m minipad train --resume --out {config.out}"
        state = run_steps(config, model, optimizer, rng, state, callback, log, progress, resume_command,
                          saved_step=state.step if resume else None)
        return finish(config, model, get_task(config.task), state, log)


def run_steps(config, model, optimizer, rng, state, callback, log, progress, resume_command, saved_step):
    """The training loop: steps until the budget is spent or Ctrl-C asks to stop; always ends saved."""
    with StopRequest() as stop:   # from here on, Ctrl-C is a request to stop after a whole step
        return _run_steps(config, model, optimizer, rng, state, callback, log, progress, resume_command,
                          saved_step, stop)


def _run_steps(config, model, optimizer, rng, state, callback, log, progress, resume_command, saved_step, stop):
    task = get_task(config.task)
    tokenizer = task.tokenizer()
    train_options = config.split_options("train")
    progress_set = sample_examples(task, "test", config.eval_problems, config.format,
                                   split_rng(config.seed, "test"), config.options())
    limits = [f"to step {config.max_steps:,}"] if config.max_steps < UNLIMITED_STEPS else []
    limits += [f"for {config.max_minutes:g} minutes"] if config.max_minutes > 0 else []
    budget = " or ".join(limits)
    log(f"model: {model.num_params():,} parameters; training from step {state.step} {budget}")

    def save():
        nonlocal saved_step
        with interrupts_deferred():   # a Ctrl-C waits until the checkpoint and its step are both noted
            save_run(config, model, optimizer, rng, state)
            saved_step = state.step

    bar = tqdm(total=config.max_steps if config.max_minutes <= 0 else None, initial=state.step, desc="train",
               unit="step", disable=not progress, dynamic_ncols=True)
    tokens_seen, window_start = 0, time.perf_counter()
    prefetcher = None
    try:
        if config.workers > 1 and budget_left(config, state):
            # with worker processes, one more process draws the next batches meanwhile (minipad/prefetch.py)
            prefetcher = BatchPrefetcher(config, model.config, rng)
        while budget_left(config, state) and not stop.requested:
            # one whole step: nothing below is cut short by Ctrl-C, which is only noted (StopRequest)
            started = time.perf_counter()
            lr = learning_rate(config, state)
            if prefetcher is not None:
                batch, layout = prefetcher.next(rng)  # and rng moved on past it, as drawing it here would
            else:
                batch, layout = draw_batch(config, model.config, task, tokenizer, rng, train_options)
            loss, grads = parallel_loss_and_grads(model, batch.ids, batch.targets, batch.mask, config.workers,
                                                  layout)
            if config.grad_clip > 0:
                grad_norm = clip_grad_norm(grads, config.grad_clip)
            else:   # --grad-clip 0: no clipping, the norm only measured for the log
                grad_norm = clip_grad_norm(grads, math.inf)
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                kept = (f"the last good checkpoint {checkpoint_path(config)} (step {saved_step}) is intact"
                        if saved_step is not None else "no checkpoint had been saved yet")
                what = f"the loss became {loss}" if not math.isfinite(loss) else f"the gradient became {grad_norm}"
                raise TrainingDiverged(f"{what} at step {state.step + 1}: try a lower --lr "
                                       f"(now {config.lr:g}); {kept}")
            optimizer.step(model.params, grads, lr)
            state.step += 1
            state.train_seconds += time.perf_counter() - started
            state.history.append([state.step, float(f"{loss:.6g}"), lr, float(f"{grad_norm:.4g}")])
            tokens_seen += int((batch.ids != tokenizer.pad_id).sum())  # real tokens, not padding
            if callback is not None:
                try:
                    callback(state.step, loss)
                except KeyboardInterrupt:
                    stop.requested = True
            bar.update(1)
            if state.step % 10 == 0:
                elapsed = time.perf_counter() - window_start
                bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tokens_seen / elapsed:,.0f}")
                tokens_seen, window_start = 0, time.perf_counter()
            if state.step % config.eval_every == 0 and budget_left(config, state):
                accuracy = quick_accuracy(model, task, config.format, progress_set)
                state.evaluations.append([state.step, accuracy])
                save()
                bar.write(f"step {state.step:>6}  loss {loss:.4f}  held-out answer accuracy "
                          f"{100 * accuracy:5.1f}%  ({state.train_seconds / 60:.1f} min)")
                window_start = time.perf_counter()
        bar.close()
        save()
    except KeyboardInterrupt:   # a second Ctrl-C: stopped at once
        bar.close()
        log(stopped_message(config, state, saved_step, resume_command))
        raise
    finally:
        if prefetcher is not None:
            prefetcher.close()
    if stop.requested:
        log(stopped_message(config, state, saved_step, resume_command))
        raise KeyboardInterrupt
    return state


def stopped_message(config: TrainConfig, state: RunState, saved_step: int | None, resume_command: str) -> str:
    """What an interrupted run kept, and how to continue it."""
    path = checkpoint_path(config)
    if saved_step is None:
        return (f"interrupted during step {state.step + 1}, before any checkpoint was saved: nothing to resume "
                f"(start again with --force)")
    lost = "" if saved_step == state.step else f"; step {state.step + 1}, under way, was not kept"
    return (f"interrupted: kept {path} at step {saved_step}{lost}; continue with: {resume_command}")


def finish(config: TrainConfig, model: GPT, task, state: RunState, log=print) -> dict:
    """Final evaluation, loss curve and report, all saved beside the checkpoint."""
    steps, losses = [row[0] for row in state.history], [row[1] for row in state.history]
    if len(losses) >= 2:
        positive = all(loss > 0 for loss in losses)
        scale = "log scale" if positive else "linear scale"
        log(line_plot(losses, x=steps, title=f"training loss ({scale}), steps {steps[0]}-{steps[-1]}",
                      log_y=positive))
    started = time.perf_counter()
    try:
        report = run_evaluation(model, config, task)
    except KeyboardInterrupt:
        log(f"interrupted during the final evaluation; training is complete and saved in "
            f"{checkpoint_path(config)} (step {state.step}): evaluate it with: python -m minipad eval "
            f"--checkpoint {checkpoint_path(config)}")
        raise
    report.update(step=state.step, train_minutes=state.train_seconds / 60,
                  eval_seconds=time.perf_counter() - started)
    write_text_atomically(os.path.join(config.out, "eval.json"), json.dumps(report, indent=2))
    log(f"\n{task.name}, {config.format}: {state.step} steps, {state.train_seconds / 60:.1f} min of training; "
        f"evaluated in {report['eval_seconds']:.1f} s")
    if report["splits"]:
        log(format_report(report))
    log(f"saved {checkpoint_path(config)}, eval.json, loss.csv and progress.csv in {config.out}")
    return report


def write_history(folder: str, history: list) -> None:
    """The loss curve as CSV: step, loss, learning rate, gradient norm before clipping."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", "loss", "lr", "grad_norm"])
    writer.writerows(history)
    write_text_atomically(os.path.join(folder, "loss.csv"), buffer.getvalue())


def write_progress(folder: str, evaluations: list) -> None:
    """The progress evaluations as CSV: step, held-out answer accuracy (a fraction, 0 to 1)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", "answer_accuracy"])
    writer.writerows(evaluations)
    write_text_atomically(os.path.join(folder, "progress.csv"), buffer.getvalue())


