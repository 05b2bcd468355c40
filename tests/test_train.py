"""Training end to end on a tiny model: the loss falls, evaluation runs, resume is exact, NaN stops cleanly."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minipad.train as train_module
from minipad.checkpoint import load_checkpoint, load_model
from minipad.config import TrainConfig
from minipad.errors import UserError
from minipad.evaluate import run_evaluation
from minipad.tasks import get_task
from minipad.train import TrainingDiverged, train

TINY = dict(task_options={"max_digits": 2}, n_layer=1, n_head=2, n_embd=32, block_size=320, batch_size=16, lr=3e-3, min_lr=3e-4,
            warmup_steps=10, max_steps=40, eval_every=20, eval_problems=10, test_problems=20, ood_problems=4,
            workers=1)


def tiny_config(tmp_path, **changes):
    values = dict(TINY, out=str(tmp_path / "run"))
    values.update(changes)
    return TrainConfig(**values)


def quiet(*_args, **_kwargs):
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    config = tiny_config(folder, max_steps=80, eval_every=40)
    report = train(config, log=quiet, progress=False)
    return config, report


def test_loss_falls_and_evaluation_runs(trained):
    config, report = trained
    losses = [row[1] for row in load_checkpoint(os.path.join(config.out, "model.npz"))[1]["history"]]
    assert len(losses) == 80
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    saved = json.load(open(os.path.join(config.out, "eval.json")))
    assert saved["splits"]["test"]["n"] == 20 and saved["splits"]["ood"]["n"] == 4
    # trained on 1-2 digits: the out-of-distribution set holds the next two lengths, 3 and 4 digits
    assert set(saved["by_size"]) <= {"1", "2", "3", "4"} and {"3", "4"} & set(saved["by_size"])
    assert open(os.path.join(config.out, "loss.csv")).readline().strip() == "step,loss,lr,grad_norm"
    assert report["step"] == 80


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path):
    whole = tiny_config(tmp_path / "whole", max_steps=30, eval_every=100)
    train(whole, log=quiet, progress=False)
    expected = load_checkpoint(os.path.join(whole.out, "model.npz"))[1]["history"]

    def stop_at_13(step, loss):
        if step == 13:
            raise KeyboardInterrupt

    parts = tiny_config(tmp_path / "parts", max_steps=30, eval_every=100)
    with pytest.raises(KeyboardInterrupt):
        train(parts, callback=stop_at_13, log=quiet, progress=False)
    assert load_checkpoint(os.path.join(parts.out, "model.npz"))[1]["step"] == 13
    train(tiny_config(tmp_path / "parts"), resume=True, log=quiet, progress=False)
    arrays, meta = load_checkpoint(os.path.join(parts.out, "model.npz"))
    assert [row[1] for row in meta["history"]] == [row[1] for row in expected]
    whole_arrays, _ = load_checkpoint(os.path.join(whole.out, "model.npz"))
    for name, value in whole_arrays.items():
        assert np.array_equal(value, arrays[name]), name


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = train_module.parallel_loss_and_grads
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, grads = real(*args, **kwargs)
        return (float("nan") if calls["n"] == 25 else loss), grads

    monkeypatch.setattr(train_module, "parallel_loss_and_grads", poisoned)
    config = tiny_config(tmp_path, max_steps=40, eval_every=20)
    with pytest.raises(TrainingDiverged, match="step 25"):
        train(config, log=quiet, progress=False)
    assert load_checkpoint(os.path.join(config.out, "model.npz"))[1]["step"] == 20


def test_an_existing_run_is_never_overwritten_without_being_asked(trained, tmp_path):
    config, _ = trained
    before = open(os.path.join(config.out, "model.npz"), "rb").read()
    with pytest.raises(UserError, match="--resume"):
        train(TrainConfig(**dict(TINY, out=config.out)), log=quiet, progress=False)
    with pytest.raises(UserError, match="cannot change"):
        train(TrainConfig(**dict(TINY, out=config.out)), resume=True, overrides={"n_embd": 64}, log=quiet,
              progress=False)
    assert open(os.path.join(config.out, "model.npz"), "rb").read() == before


@pytest.mark.parametrize("change, says", [
    ({"max_steps": 0}, "--max-steps"),
    ({"batch_size": 0}, "--batch-size"),
    ({"min_lr": 1.0}, "--min-lr"),
    ({"task": "sorting"}, "unknown task"),
    ({"n_embd": 30, "n_head": 4}, "divisible"),
    ({"task_options": {"max_digits": 0}}, "digit range"),
    ({"task_options": {"max_digits": 29}, "block_size": 100_000}, "digit range"),   # out-of-distribution 30, 31
    ({"task": "polynomial"}, "--max-digits"),   # TINY's option is addition's
])
def test_bad_settings_are_refused_before_anything_is_written(change, says, tmp_path):
    config = tiny_config(tmp_path, **change)
    with pytest.raises(UserError, match=says):
        train(config, log=quiet, progress=False)
    assert not os.path.exists(config.out)


def test_a_loss_that_rounds_to_zero_still_plots_and_evaluates(tmp_path, monkeypatch):
    real = train_module.parallel_loss_and_grads

    def perfect(*args, **kwargs):
        _, grads = real(*args, **kwargs)
        return 0.0, grads

    monkeypatch.setattr(train_module, "parallel_loss_and_grads", perfect)
    logged = []
    config = tiny_config(tmp_path, max_steps=5, warmup_steps=2, eval_every=100)
    train(config, log=logged.append, progress=False)
    assert any("linear scale" in line for line in logged)
    assert os.path.exists(os.path.join(config.out, "eval.json"))


def test_sequences_longer_than_the_block_are_refused_up_front(tmp_path):
    with pytest.raises(UserError, match="--block-size"):
        train(tiny_config(tmp_path, task_options={"max_digits": 12}), log=quiet, progress=False)
    with pytest.raises(UserError, match="--ood-problems 0"):
        train(tiny_config(tmp_path, task_options={"max_digits": 11}, block_size=400), log=quiet, progress=False)
    assert not os.path.exists(tmp_path / "run")


def test_the_saved_config_round_trips(trained):
    config, _ = trained
    _, loaded, _, meta = load_model(os.path.join(config.out, "model.npz"))
    assert loaded == config and loaded.task_options == {"min_digits": 1, "max_digits": 2, "longest_digits": 0,
                                                        "ood_digits": ""}
    assert meta["vocabulary"] == list(get_task(config.task).tokenizer().vocabulary)


def test_task_options_cannot_change_when_resuming_and_another_tasks_are_refused(trained):
    config, _ = trained
    before = open(os.path.join(config.out, "model.npz"), "rb").read()
    resumed = TrainConfig(**dict(TINY, out=config.out))
    with pytest.raises(UserError, match="--max-digits cannot change when resuming"):
        train(resumed, resume=True, overrides={"task_options": {"max_digits": 3}}, log=quiet, progress=False)
    with pytest.raises(UserError, match="no option --max-terms"):
        train(resumed, resume=True, overrides={"task_options": {"max_terms": 2}}, log=quiet, progress=False)
    assert open(os.path.join(config.out, "model.npz"), "rb").read() == before


# TrainConfig as checkpoints saved it before tasks declared their own options: the digit range was a
# setting of every run, whatever its task (written out as asdict(TrainConfig(...)) gave it then).
def old_train_config(task: str, out: str) -> dict:
    return {"task": task, "format": "scratchpad", "min_digits": 1, "max_digits": 2, "n_layer": 1, "n_head": 2,
            "n_embd": 32, "block_size": 320, "position": "rope", "tie_weights": True, "batch_size": 16,
            "lr": 0.003, "min_lr": 0.0003, "warmup_steps": 10, "max_steps": 40, "max_minutes": 0.0,
            "eval_every": 20, "eval_problems": 10, "test_problems": 20, "ood_problems": 4, "workers": 1,
            "seed": 0, "out": out}


# The one vocabulary every checkpoint had then, token by token.
OLD_VOCABULARY = (["<pad>", "<eos>", "<scratch>", "</scratch>", " + ", " - ", " , ", ", ", " C: ", ": ", "total: ",
                   "Evaluate ", " at x = ", "*x**", "*x"] + [chr(code) for code in range(32, 127)] + ["\n"])


def write_old_checkpoint(path, task: str, vocabulary=OLD_VOCABULARY):
    from dataclasses import asdict
    from minipad.checkpoint import pack_rng_state, save_checkpoint
    from minipad.model import GPT, GPTConfig
    from minipad.optim import AdamW
    rng = np.random.default_rng(0)
    model = GPT(GPTConfig(vocab_size=len(vocabulary), n_layer=1, n_head=2, n_embd=32, block_size=320), rng)
    arrays = {f"param.{name}": value for name, value in model.params.items()}
    arrays.update({f"optim.{name}": value for name, value in AdamW.for_model(model).state_dict().items()})
    meta = {"train_config": old_train_config(task, str(path.parent)), "model_config": asdict(model.config),
            "vocabulary": vocabulary, "step": 40, "train_seconds": 1.5, "history": [[40, 1.0, 0.001, 0.5]],
            "evaluations": [], "rng": pack_rng_state(rng)}
    save_checkpoint(path, arrays, meta)
    return model


@pytest.mark.parametrize("task, options", [("addition", {"min_digits": 1, "max_digits": 2, "longest_digits": 0,
                                                        "ood_digits": ""}),
                                           ("polynomial", {"max_terms": 3})])
def test_a_checkpoint_saved_before_tasks_had_their_own_options_still_loads(task, options, tmp_path):
    path = tmp_path / "run" / "model.npz"
    path.parent.mkdir()
    written = write_old_checkpoint(path, task)
    model, config, _, _ = load_model(str(path))
    assert config.task == task and config.task_options == options
    for name, value in written.params.items():
        assert np.array_equal(model.params[name], value)
    report = run_evaluation(model, config, get_task(task), test_problems=3, ood_problems=2)
    assert report["splits"]["test"]["n"] == 3
    train(TrainConfig(out=str(path.parent)), resume=True, overrides={"max_steps": 41}, log=quiet, progress=False)
    assert load_checkpoint(str(path))[1]["step"] == 41


def test_a_checkpoint_of_another_vocabulary_gets_one_line_that_says_what_to_do(tmp_path):
    path = tmp_path / "run" / "model.npz"
    path.parent.mkdir()
    write_old_checkpoint(path, "addition", vocabulary=OLD_VOCABULARY[:-1] + ["\t"])
    with pytest.raises(UserError) as error:
        load_model(str(path))
    message = str(error.value)
    assert "another vocabulary" in message and "python -m minipad train --task addition" in message
    assert "\n" not in message


# ------------------------------------------------------------------ Ctrl-C on a real training process
# A real child process (python -m minipad train) gets SIGINT at random moments and is resumed each time;
# its losses and weights must equal those of a run that was never interrupted, bit for bit. It trains with
# a worker process, and the Ctrl-C goes to the whole process group, as a terminal sends it.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD_RUN = ["--max-digits", "2", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch-size", "8",
             "--block-size", "48", "--warmup-steps", "10", "--max-steps", "300", "--eval-every", "1000000",
             "--eval-problems", "1", "--test-problems", "0", "--ood-problems", "0", "--workers", "2", "--no-progress"]


def child_environment():
    return dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def start_child(*argv, prelude=""):
    """python -m minipad ARGV in a child process (prelude: Python run first, e.g. to patch os.fsync)."""
    code = prelude + "\nimport runpy, sys\nsys.argv = ['minipad'] + sys.argv[1:]\nrunpy.run_module('minipad', run_name='__main__')"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], cwd=REPO, env=child_environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def interrupt_when_training(child, delay: float, signals: int = 1) -> tuple[int, str, str]:
    """Wait until the child has started its steps, then after ``delay`` seconds send SIGINT to its process
    group (the child and its worker process), as Ctrl-C in a terminal does."""
    lines = []
    for line in child.stdout:
        lines.append(line)
        if "training from step" in line:
            break
    time.sleep(delay)
    for _ in range(signals):
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=300)
    return child.returncode, "".join(lines) + out, err


def run_outputs(folder):
    """(loss.csv text, the checkpoint's arrays) of a finished run."""
    arrays, _ = load_checkpoint(os.path.join(folder, "model.npz"))
    with open(os.path.join(folder, "loss.csv")) as file:
        return file.read(), arrays


def assert_same_run(folder, reference):
    losses, arrays = run_outputs(folder)
    expected_losses, expected_arrays = reference
    assert losses == expected_losses
    assert sorted(arrays) == sorted(expected_arrays)
    for name, value in expected_arrays.items():
        assert np.array_equal(arrays[name], value), name


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted") / "run"
    child = start_child("train", *CHILD_RUN, "--out", folder)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    return run_outputs(folder)


@pytest.mark.slow
def test_ctrl_c_at_random_moments_then_resume_gives_the_uninterrupted_run_bit_for_bit(tmp_path, uninterrupted):
    import random
    moments = random.Random(8).sample([i / 100 for i in range(2, 40)], 4)
    folder = tmp_path / "run"
    stopped = 0
    for attempt, delay in enumerate(moments):
        command = ["train", *CHILD_RUN, "--out", folder] + (["--resume"] if attempt else [])
        status, out, err = interrupt_when_training(start_child(*command), delay)
        assert "Traceback" not in err and "computed here" not in err, err
        if status == 0 or (status == -signal.SIGINT and "saved " in out.splitlines()[-1]):
            break   # it had finished: the Ctrl-C came as Python was exiting
        assert status == 130, err
        assert "interrupted: kept" in out and "continue with: python -m minipad train --resume" in out, out
        stopped += 1
    assert stopped >= 2, "the interrupts came too late to test anything"
    child = start_child("train", *CHILD_RUN, "--out", folder, "--resume")
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert_same_run(folder, uninterrupted)


FSYNC_INTERRUPTS = """
import os, signal
real_fsync = os.fsync
def fsync_and_interrupt(descriptor):   # a second Ctrl-C arrives while the checkpoint is being written
    os.kill(os.getpid(), signal.SIGINT)
    real_fsync(descriptor)
os.fsync = fsync_and_interrupt
"""


@pytest.mark.slow
def test_a_second_ctrl_c_while_the_checkpoint_is_written_keeps_it_and_says_so(tmp_path, uninterrupted):
    folder = tmp_path / "run"
    status, out, err = interrupt_when_training(
        start_child("train", *CHILD_RUN, "--out", folder, prelude=FSYNC_INTERRUPTS), 0.1)
    assert status == 130 and "Traceback" not in err, err
    arrays, meta = load_checkpoint(folder / "model.npz")   # whole, and not a temporary file left beside it
    assert sorted(os.listdir(folder)) == ["loss.csv", "model.npz", "progress.csv"]
    assert 0 < meta["step"] < 300
    assert f"kept {folder / 'model.npz'} at step {meta['step']}" in out, out
    assert f"continue with: python -m minipad train --resume --out {folder}" in out
    child = start_child("train", *CHILD_RUN, "--out", folder, "--resume")
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert_same_run(folder, uninterrupted)


@pytest.mark.slow
def test_a_run_folder_in_use_is_locked_and_a_stale_lock_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    train(tiny_config(tmp_path, max_steps=2, warmup_steps=1, test_problems=0, ood_problems=0), log=quiet,
          progress=False)
    first = start_child("train", "--resume", "--max-steps", "100000", "--no-progress", "--out", folder)
    for line in first.stdout:
        if "training from step" in line:
            break
    second = subprocess.run([sys.executable, "-m", "minipad", "train", *CHILD_RUN, "--out", str(folder), "--force"],
                            cwd=REPO, env=child_environment(), capture_output=True, text=True, timeout=300)
    evaluation = subprocess.run([sys.executable, "-m", "minipad", "eval", "--checkpoint", str(folder / "model.npz")],
                                cwd=REPO, env=child_environment(), capture_output=True, text=True, timeout=300)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=300)
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert f"in use by process {first.pid} (minipad train --resume" in second.stderr
    assert evaluation.returncode == 2 and f"in use by process {first.pid}" in evaluation.stderr
    assert not (folder / ".minipad.lock").exists()          # released when the run stopped
    # a lock whose process is gone (killed with SIGKILL) is taken over, with a note
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (folder / ".minipad.lock").write_text(f"{gone.pid}\nminipad train --out {folder}\n")
    resumed = subprocess.run([sys.executable, "-m", "minipad", "train", "--resume", "--out", str(folder),
                              "--max-steps", "1", "--no-progress"],
                             cwd=REPO, env=child_environment(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"locked by process {gone.pid}, which no longer runs" in resumed.stdout
