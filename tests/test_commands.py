"""train, eval, sample and compare from the command line: output, and one-line errors for bad input."""
import json
import os
import shlex
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import assert_one_line_error, interrupt_once_printed, run_minipad
from minipad.checkpoint import load_checkpoint, save_checkpoint
from minipad.cli import main

TINY = ["--max-digits", "2", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--batch-size", "16",
        "--warmup-steps", "5", "--max-steps", "30", "--eval-every", "15", "--eval-problems", "8",
        "--test-problems", "16", "--ood-problems", "4", "--workers", "1", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "run"
    status = main(["train", *TINY, "--out", str(folder)])
    assert status == 0
    return folder / "model.npz"


def test_train_prints_its_config_and_an_accuracy_table(tmp_path, capsys):
    status, out, _ = run_minipad(capsys, "train", *TINY, "--max-steps", "12", "--out", tmp_path / "run")
    assert status == 0
    assert out.startswith("config: task=addition format=scratchpad")
    assert "in distribution" in out and "out of distribution" in out and "answer %" in out


def test_eval_prints_a_table_and_saves_json(checkpoint, capsys):
    status, out, _ = run_minipad(capsys, "eval", "--checkpoint", checkpoint, "--test-problems", "10",
                                 "--ood-problems", "2")
    assert status == 0 and "in distribution" in out
    report = json.load(open(checkpoint.parent / "eval.json"))
    assert report["splits"]["test"]["n"] == 10


def test_sample_shows_the_scratchpad_and_the_verdict(checkpoint, capsys):
    status, out, _ = run_minipad(capsys, "sample", "--checkpoint", checkpoint, "29+57")
    assert status == 0
    assert out.startswith("2 9 + 5 7\n")
    assert "checker: " in out and "answer: " in out and "right answer is 8 6" in out


def test_compare_trains_both_formats_and_prints_them_side_by_side(tmp_path, capsys):
    status, out, _ = run_minipad(capsys, "compare", *TINY, "--max-steps", "6", "--out", tmp_path)
    assert status == 0
    assert "direct answer %" in out and "scratchpad answer %" in out
    assert (tmp_path / "addition-direct" / "model.npz").exists()
    assert (tmp_path / "addition-scratchpad" / "model.npz").exists()


def test_bad_checkpoints_get_one_line_errors(tmp_path, checkpoint, capsys):
    status, _, err = run_minipad(capsys, "eval", "--checkpoint", tmp_path / "missing.npz")
    assert_one_line_error(status, err, "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    status, _, err = run_minipad(capsys, "sample", "--checkpoint", corrupt, "1+2")
    assert_one_line_error(status, err, "corrupt.npz")
    arrays, meta = load_checkpoint(checkpoint)
    meta["vocabulary"] = meta["vocabulary"][:-1]
    save_checkpoint(tmp_path / "other.npz", arrays, meta)
    status, _, err = run_minipad(capsys, "eval", "--checkpoint", tmp_path / "other.npz")
    assert_one_line_error(status, err, "vocabulary")
    arrays, meta = load_checkpoint(checkpoint)
    meta["model_config"]["n_embd"] = 48
    save_checkpoint(tmp_path / "misfit.npz", arrays, meta)
    status, _, err = run_minipad(capsys, "eval", "--checkpoint", tmp_path / "misfit.npz")
    assert_one_line_error(status, err, "shape")
    for damage in ({"train_config": dict(meta["train_config"], task="juggling")}, {"step": None}):
        arrays, meta = load_checkpoint(checkpoint)
        meta.update(damage)
        save_checkpoint(tmp_path / "damaged.npz", arrays, meta)
        status, _, err = run_minipad(capsys, "eval", "--checkpoint", tmp_path / "damaged.npz")
        assert_one_line_error(status, err, "rebuild")


@pytest.mark.parametrize("problem, says", [("29+5é", "not a sum"), ("hello", "not a sum"), ("29*57", "not a sum")])
def test_sample_refuses_what_is_not_a_sum(problem, says, checkpoint, capsys):
    status, _, err = run_minipad(capsys, "sample", "--checkpoint", checkpoint, problem)
    assert_one_line_error(status, err, says)


def test_bad_training_settings_get_one_line_errors_and_write_nothing(tmp_path, checkpoint, capsys):
    for argv, says in [(["--max-steps", "0"], "--max-steps"), (["--lr", "fast"], "invalid float"),
                       (["--n-layers", "2"], "unrecognized"), (["--task", "sorting"], "unknown task"),
                       (["--task", "polynomial"], "the polynomial task has no option --max-digits (its options: "
                                                  "--max-terms)"),
                       (["--max-terms", "2"], "the addition task has no option --max-terms")]:
        status, _, err = run_minipad(capsys, "train", *TINY, *argv, "--out", tmp_path / "run")
        assert_one_line_error(status, err, says)
    assert not (tmp_path / "run").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    status, _, err = run_minipad(capsys, "train", *TINY, "--out", blocked / "run")
    assert_one_line_error(status, err, "output folder")
    before = checkpoint.read_bytes()
    status, _, err = run_minipad(capsys, "train", *TINY, "--out", checkpoint.parent)
    assert_one_line_error(status, err, "--resume")
    status, _, err = run_minipad(capsys, "train", "--resume", "--n-embd", "64", "--out", checkpoint.parent)
    assert_one_line_error(status, err, "cannot change")
    status, _, err = run_minipad(capsys, "train", "--resume", "--max-digits", "5", "--out", checkpoint.parent)
    assert_one_line_error(status, err, "--max-digits cannot change")
    assert checkpoint.read_bytes() == before


def test_a_time_budget_alone_lets_time_decide(tmp_path, capsys):
    argv = [word for word in TINY]
    del argv[argv.index("--max-steps"):argv.index("--max-steps") + 2]
    status, out, _ = run_minipad(capsys, "train", *argv, "--max-minutes", "0.02", "--out", tmp_path / "run")
    assert status == 0
    assert "training from step 0 for 0.02 minutes" in out
    _, meta = load_checkpoint(tmp_path / "run" / "model.npz")
    assert 0 < meta["step"] < 10**6
    assert 1.2 <= meta["train_seconds"] < 1.2 + 5


def test_resume_with_a_time_budget_alone_keeps_training(checkpoint, capsys, tmp_path):
    import shutil
    run_folder = tmp_path / "run"
    shutil.copytree(checkpoint.parent, run_folder)
    _, meta = load_checkpoint(run_folder / "model.npz")
    before = meta["step"]
    minutes = f"{(meta['train_seconds'] + 0.5) / 60:.4f}"   # the budget counts the time already trained
    status, out, _ = run_minipad(capsys, "train", "--resume", "--out", run_folder, "--max-minutes", minutes,
                                 "--no-progress")
    assert status == 0 and f"for {float(minutes):g} minutes" in out
    assert load_checkpoint(run_folder / "model.npz")[1]["step"] > before


def test_the_resolved_config_shows_the_tasks_own_options_after_the_task(capsys):
    from minipad.cli import train
    from minipad.cli.arguments import OneLineParser
    from minipad.cli.options import build_config, print_config
    parser = OneLineParser()
    train.add_arguments(parser)
    print_config(build_config(parser.parse_args(["--task", "polynomial", "--max-terms", "2"])))
    assert capsys.readouterr().out.startswith("config: task=polynomial format=scratchpad max_terms=2 n_layer=")
    print_config(build_config(parser.parse_args(["--quick"]), quick=True))
    out = capsys.readouterr().out
    assert out.startswith("config: task=addition format=scratchpad min_digits=1 max_digits=3 longest_digits=0 "
                          "ood_digits= n_layer=")
    assert "max_terms" not in out and "max_steps=2500" in out
    print_config(build_config(parser.parse_args(["--quick", "--task", "polynomial"]), quick=True))
    assert "max_digits" not in capsys.readouterr().out


def test_eval_report_goes_where_asked_or_to_standard_output(checkpoint, tmp_path, capsys):
    before = (checkpoint.parent / "eval.json").read_bytes()
    status, out, _ = run_minipad(capsys, "eval", "--checkpoint", checkpoint, "--test-problems", "6",
                                 "--ood-problems", "0", "--report", tmp_path / "report.json")
    assert status == 0 and f"saved {tmp_path / 'report.json'}" in out and "in distribution" in out
    assert json.load(open(tmp_path / "report.json"))["splits"]["test"]["n"] == 6
    assert (checkpoint.parent / "eval.json").read_bytes() == before   # the run's own report is left alone
    status, out, err = run_minipad(capsys, "eval", "--checkpoint", checkpoint, "--test-problems", "6",
                                   "--ood-problems", "0", "--report", "-")
    assert status == 0
    assert json.loads(out)["splits"]["test"]["n"] == 6   # standard output holds the JSON alone
    assert "in distribution" in err                        # the table went to standard error
    for report, says in [(tmp_path / "report.txt", "does not end in .json"),
                         (tmp_path / "missing" / "report.json", "does not exist"),
                         (tmp_path, "is a folder")]:
        status, _, err = run_minipad(capsys, "eval", "--checkpoint", checkpoint, "--report", report)
        assert_one_line_error(status, err, says)


def test_eval_scores_a_checkpoint_in_a_read_only_folder(checkpoint, tmp_path, capsys, monkeypatch):
    import shutil
    import stat
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(checkpoint, folder / "model.npz")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
            writes_blocked = False   # the superuser writes through permissions: a read-only share is simulated
            probe.unlink()
        except PermissionError:
            writes_blocked = True
        if not writes_blocked:
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False if (
                os.path.abspath(path) == str(folder) and mode & os.W_OK) else real_access(path, mode, **kwargs))
        status, out, err = run_minipad(capsys, "eval", "--checkpoint", folder / "model.npz", "--test-problems", "6",
                                       "--ood-problems", "0")
        assert status == 0, err
        assert "in distribution" in out and "not saved: the folder of" in out and "read-only" in out
        assert sorted(os.listdir(folder)) == ["model.npz"]
    finally:
        folder.chmod(stat.S_IRWXU)


# ------------------------------------------------------------- what a new user met, each a one-liner
def test_settings_that_are_not_finite_or_out_of_range_are_refused_with_what_is_allowed(tmp_path, capsys):
    for argv, says in [(["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
                       (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
                       (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
                       (["--max-minutes", "inf"], "--max-minutes must be a finite number >= 0, got inf"),
                       (["--min-lr", "nan"], "--min-lr must be a finite number >= 0"),
                       (["--grad-clip", "nan"], "--grad-clip must be a finite number >= 0"),
                       (["--weight-decay", "inf"], "--weight-decay must be a finite number >= 0"),
                       (["--weight-decay", "500"], "--lr x --weight-decay must be below 1")]:
        status, _, err = run_minipad(capsys, "train", *TINY, *argv, "--out", tmp_path / "run")
        assert_one_line_error(status, err, says)
    assert not (tmp_path / "run").exists()


def test_grad_clip_0_means_no_clipping(tmp_path):
    from minipad.config import TrainConfig
    from minipad.train import train
    runs = {}
    for clip in (0.0, 1e30):
        config = TrainConfig(task_options={"max_digits": 2}, n_layer=1, n_head=2, n_embd=16, block_size=48, batch_size=8, lr=3e-3,
                             warmup_steps=2, max_steps=6, eval_every=100, eval_problems=1, test_problems=0,
                             ood_problems=0, workers=1, grad_clip=clip, out=str(tmp_path / f"clip{clip}"))
        train(config, log=lambda *_: None, progress=False)
        runs[clip] = load_checkpoint(os.path.join(config.out, "model.npz"))
    (no_clip, meta), (huge_clip, huge_meta) = runs[0.0], runs[1e30]
    assert [row[1] for row in meta["history"]] == [row[1] for row in huge_meta["history"]]
    for name in no_clip:
        assert np.array_equal(no_clip[name], huge_clip[name]), name


def test_a_checkpoint_whose_weights_are_not_finite_is_a_one_line_error(checkpoint, tmp_path, capsys):
    arrays, meta = load_checkpoint(checkpoint)
    name = next(key for key in arrays if key.startswith("param."))
    arrays[name] = np.full_like(arrays[name], np.nan)
    save_checkpoint(tmp_path / "nan.npz", arrays, meta)
    for command in (["sample", "--checkpoint", tmp_path / "nan.npz", "29+57"],
                    ["eval", "--checkpoint", tmp_path / "nan.npz"]):
        status, out, err = run_minipad(capsys, *command)
        assert_one_line_error(status, err, "not finite")
        assert out == ""


def test_a_gradient_that_overflows_stops_the_run_before_it_reaches_the_weights(tmp_path, monkeypatch):
    import minipad.train as train_module
    from minipad.config import TrainConfig
    from minipad.train import TrainingDiverged, train
    real = train_module.parallel_loss_and_grads
    calls = {"n": 0}

    def overflowing(*args, **kwargs):
        calls["n"] += 1
        loss, grads = real(*args, **kwargs)
        if calls["n"] == 4:
            next(iter(grads.values()))[...] = np.inf
        return loss, grads

    monkeypatch.setattr(train_module, "parallel_loss_and_grads", overflowing)
    config = TrainConfig(task_options={"max_digits": 2}, n_layer=1, n_head=2, n_embd=16, block_size=48, batch_size=8, warmup_steps=1,
                         max_steps=10, eval_every=3, eval_problems=1, test_problems=0, ood_problems=0, workers=1,
                         out=str(tmp_path / "run"))
    with pytest.raises(TrainingDiverged, match="gradient became inf at step 4.*step 3"):
        train(config, log=lambda *_: None, progress=False)
    arrays, meta = load_checkpoint(tmp_path / "run" / "model.npz")
    assert meta["step"] == 3 and all(np.isfinite(value).all() for value in arrays.values())


def test_a_warmup_longer_than_the_run_is_capped_and_the_config_says_so(tmp_path, capsys):
    argv = [word for word in TINY]
    del argv[argv.index("--warmup-steps"):argv.index("--warmup-steps") + 2]
    status, out, err = run_minipad(capsys, "train", *argv, "--max-steps", "4", "--out", tmp_path / "run")
    assert status == 0, err
    assert "warmup_steps=4 " in out and "note: --warmup-steps 200 is longer than the run: capped at --max-steps 4" in out
    status, out, err = run_minipad(capsys, "compare", *argv, "--max-steps", "3", "--out", tmp_path / "compare")
    assert status == 0, err
    assert out.count("capped at --max-steps 3") == 2


def test_one_rule_for_options_a_task_does_not_take_and_for_resume_with_force(checkpoint, tmp_path, capsys):
    status, _, err = run_minipad(capsys, "train", "--task", "polynomial", "--max-digits", "3", "--out", tmp_path / "p")
    assert_one_line_error(status, err, "polynomial task has no option --max-digits")
    status, _, err = run_minipad(capsys, "data", "--task", "polynomial", "--max-digits", "3")
    assert_one_line_error(status, err, "polynomial task has no option --max-digits")
    before = checkpoint.read_bytes()
    status, _, err = run_minipad(capsys, "train", "--resume", "--force", "--out", checkpoint.parent)
    assert_one_line_error(status, err, "give one of them")
    assert checkpoint.read_bytes() == before
    # --quick's digit range is the preset's, not the user's: it does not stop --quick --task polynomial
    import argparse
    from minipad.cli import train
    from minipad.cli.options import build_config
    from minipad.config import QUICK
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    config = build_config(parser.parse_args(["--quick", "--task", "polynomial"]), quick=True)
    config.validate()
    assert config.max_steps == QUICK["max_steps"]


@pytest.mark.parametrize("argv, says", [
    (["train", "--batch-size", "1000000"], "GB of memory"),
    (["train", "--n-embd", "100000"], "GB of memory"),
    (["bench", "--batch", "10000000"], "GB of memory"),
    (["train", "--test-problems", "1000000000"], "--test-problems must be at most 100,000"),
    (["eval", "--checkpoint", "{checkpoint}", "--test-problems", "1000000000"], "at most 100,000"),
])
def test_sizes_that_cannot_fit_or_finish_are_refused_up_front(argv, says, checkpoint, tmp_path, capsys):
    started = time.perf_counter()
    status, _, err = run_minipad(capsys, *[str(word).replace("{checkpoint}", str(checkpoint)) for word in argv],
                                 *(["--out", tmp_path / "run"] if argv[0] == "train" else []))
    assert_one_line_error(status, err, says)
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "run").exists()


def test_running_out_of_memory_is_one_line(capsys):
    from minipad.cli import run_guarded

    def too_big():
        raise MemoryError

    assert run_guarded("minipad train", too_big) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory" in err


@pytest.mark.parametrize("command", [["data", "-n", "2"], ["check", "2 9 + 5 7", "8 6"],
                                     ["sample", "--checkpoint", "{checkpoint}", "29+57"],
                                     ["eval", "--checkpoint", "{checkpoint}", "--test-problems", "2",
                                      "--ood-problems", "0"], ["data", "--help"]])
def test_a_full_standard_output_is_one_line_and_a_closed_pipe_is_quiet(command, checkpoint):
    argv = [word.replace("{checkpoint}", str(checkpoint)) for word in command]
    environment = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "minipad", *argv], stdout=full, stderr=subprocess.PIPE,
                                text=True, env=environment, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr, result.stderr
    piped = subprocess.run(f"{shlex.quote(sys.executable)} -m minipad {shlex.join(argv)} | head -c 1",
                           shell=True, executable="/bin/bash", capture_output=True, text=True, env=environment,
                           timeout=300)
    assert "Traceback" not in piped.stderr and "Error" not in piped.stderr, piped.stderr


def test_a_device_or_pipe_given_as_an_output_is_refused_and_left_alone(checkpoint, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.jsonl"
    link.symlink_to(fifo)
    for target in (fifo, link):
        status, _, err = run_minipad(capsys, "data", "-n", "3", "--out", target)
        assert_one_line_error(status, err, "a named pipe, not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.path.islink(link)
    # train refuses a pipe where loss.csv or eval.json will go before training starts
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    os.mkfifo(run_folder / "loss.csv")
    status, _, err = run_minipad(capsys, "train", *TINY, "--out", run_folder)
    assert_one_line_error(status, err, "loss.csv exists and is a named pipe")
    assert sorted(os.listdir(run_folder)) == ["loss.csv"]
    # eval refuses a pipe where eval.json goes, before evaluating
    import shutil
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(checkpoint, copy / "model.npz")
    os.mkfifo(copy / "eval.json")
    status, _, err = run_minipad(capsys, "eval", "--checkpoint", copy / "model.npz")
    assert_one_line_error(status, err, "eval.json exists and is a named pipe")
    assert stat.S_ISFIFO(os.stat(copy / "eval.json").st_mode)


def test_compare_never_overwrites_its_runs_and_resumes_as_it_says(tmp_path, capsys):
    argv = [*TINY, "--max-steps", "3", "--out", tmp_path]
    assert run_minipad(capsys, "compare", *argv)[0] == 0
    direct = (tmp_path / "addition-direct" / "model.npz").read_bytes()
    status, _, err = run_minipad(capsys, "compare", *argv)
    assert_one_line_error(status, err, "--resume to continue the comparison, --force to start it over")
    assert (tmp_path / "addition-direct" / "model.npz").read_bytes() == direct
    status, out, err = run_minipad(capsys, "compare", "--resume", "--max-steps", "5", "--no-progress",
                                   "--out", tmp_path)
    assert status == 0, err
    assert "training from step 3 to step 5" in out and "direct: 5 steps" in out
    status, out, err = run_minipad(capsys, "compare", *argv, "--force")
    assert status == 0 and "direct: 3 steps" in out


@pytest.mark.slow
def test_compare_interrupted_suggests_a_command_compare_accepts(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = dict(os.environ, PYTHONPATH=root, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1")
    argv = [*TINY, "--max-steps", "100000", "--out", str(tmp_path)]
    status, out, err = interrupt_once_printed([sys.executable, "-m", "minipad", "compare", *argv], "training from step",
                                              0.2, env=environment, cwd=tmp_path)
    assert status == 130 and "Traceback" not in err, err
    suggestion = out.split("continue with: ")[1].splitlines()[0]
    assert suggestion.startswith("python -m minipad compare --resume")
    words = shlex.split(suggestion)[3:]
    words[words.index("--max-steps") + 1] = "2"   # the suggestion, with a budget already reached
    result = subprocess.run([sys.executable, "-m", "minipad", *words], env=environment, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "direct answer %" in result.stdout


def test_a_problem_that_starts_with_a_minus_is_explained(checkpoint, capsys):
    status, _, err = run_minipad(capsys, "sample", "--checkpoint", checkpoint, "-29+57")
    assert_one_line_error(status, err, "not negative ones")
    assert "put -- before it" in err
    status, _, err = run_minipad(capsys, "sample", "--checkpoint", checkpoint, "--", "-29+57")
    assert_one_line_error(status, err, "addition takes whole numbers, not negative ones")
    status, _, err = run_minipad(capsys, "data", "--seed", "-3")
    assert_one_line_error(status, err, "at least 0")   # a negative number for a number option: argparse's own
    assert "not negative ones" not in err


def test_readme_quick_claims_match_the_preset_and_say_what_was_measured_where():
    from minipad.config import QUICK
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"),
                  encoding="utf-8").read()
    start = readme.index("`python -m minipad train --quick` is a first taste")
    paragraph = " ".join(readme[start:readme.index("\n\n", start)].split())
    from minipad.tasks import get_task
    digits = get_task("addition").quick_options["max_digits"]
    assert f"1-{digits} digit sums, {QUICK['max_steps']:,} steps" in paragraph
    assert "2-core machine with nothing else running" in paragraph   # what the figure was measured on
    assert "shared 2-core machine" in paragraph and "minutes" in paragraph   # and that a shared one is slower
    tests = readme[readme.index("`python -m pytest` runs the test suite"):]
    assert "shared" in tests.split("\n\n")[0]


def test_a_long_evaluation_shows_its_progress_from_the_start(checkpoint, monkeypatch):
    import minipad.evaluate as evaluate_module
    from minipad.data import sample_examples, split_rng
    from minipad.tasks import get_task
    from minipad.checkpoint import load_model
    model, config, _, _ = load_model(checkpoint)
    task = get_task(config.task)
    examples = sample_examples(task, "test", 10, config.format, split_rng(0, "test"), config.options())

    class Bar:
        updates = []

        def update(self, n):
            self.updates.append(n)

    monkeypatch.setattr(evaluate_module, "PROGRESS_CHUNK", 3)
    with_bar = evaluate_module.decode_answers(model, task, examples, config.format, Bar())
    assert Bar.updates == [3, 3, 3, 1]   # the bar moves after every chunk, not once at the end
    assert with_bar == evaluate_module.decode_answers(model, task, examples, config.format)


PROGRAM_RUN = ["--task", "program", "--max-lines", "6", "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
               "--batch-size", "8", "--block-size", "300", "--warmup-steps", "2", "--max-steps", "4",
               "--eval-every", "4", "--eval-problems", "2", "--test-problems", "4", "--ood-problems", "0",
               "--workers", "1", "--no-progress"]


def test_a_program_model_trains_evaluates_by_lines_run_and_samples_a_program_from_a_file(tmp_path, capsys):
    status, out, _ = run_minipad(capsys, "train", *PROGRAM_RUN, "--out", tmp_path / "run")
    assert status == 0 and out.startswith("config: task=program format=scratchpad max_lines=6 min_lines=4")
    header = next(line for line in out.split("\n") if line.startswith("lines "))
    for kind in ("wrong line", "wrong value", "wrong copy", "malformed"):
        assert kind in header
    assert "wrong carry" not in header
    path = tmp_path / "program.py"
    path.write_text("def f(a):\n  a += 1\n  return a\noutput = f(2)\n")
    status, out, _ = run_minipad(capsys, "sample", "--checkpoint", tmp_path / "run" / "model.npz", f"@{path}")
    assert status == 0 and out.startswith("def f(a):\n  a += 1\n  return a\noutput = f(2)\n")
    assert "checker: " in out and "the right answer is output: 3" in out
    status, out, _ = run_minipad(capsys, "show", "--checkpoint", tmp_path / "run" / "model.npz", f"@{path}",
                                 "--attention")
    assert status == 0 and "the right answer is output: 3" in out and "layer 0, head 1" in out
    for problem, says in [("def f(a):\n  return a * 2\noutput = f(2)", "outside the program grammar"),
                          ("def f(a):\n  while a < 9:\n    a -= 1\n  return a\noutput = f(2)", "runs more than"),
                          ("def f(a):\n  a *= b\n  return a\noutput = f(2)", "raises NameError"),
                          (f"@{tmp_path / 'missing.py'}", "cannot read the problem")]:
        status, _, err = run_minipad(capsys, "sample", "--checkpoint", tmp_path / "run" / "model.npz", problem)
        assert_one_line_error(status, err, says)
