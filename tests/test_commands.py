"""train, eval, sample and compare from the command line: output, and one-line errors for bad input."""
import json
import os

import numpy as np
import pytest

from minipad.checkpoint import load_checkpoint, save_checkpoint
from minipad.cli import main

TINY = ["--max-digits", "2", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--batch-size", "16",
        "--warmup-steps", "5", "--max-steps", "30", "--eval-every", "15", "--eval-problems", "8",
        "--test-problems", "16", "--ood-problems", "4", "--threads", "1", "--no-progress"]


def run(capsys, *argv):
    try:
        status = main([str(word) for word in argv])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, says):
    assert status == 2, err
    assert err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "run"
    status = main(["train", *TINY, "--out", str(folder)])
    assert status == 0
    return folder / "model.npz"


def test_train_prints_its_config_and_an_accuracy_table(tmp_path, capsys):
    status, out, _ = run(capsys, "train", *TINY, "--max-steps", "12", "--out", tmp_path / "run")
    assert status == 0
    assert out.startswith("config: task=addition format=scratchpad")
    assert "in distribution" in out and "out of distribution" in out and "answer %" in out


def test_eval_prints_a_table_and_saves_json(checkpoint, capsys):
    status, out, _ = run(capsys, "eval", "--checkpoint", checkpoint, "--test-problems", "10", "--ood-problems", "2")
    assert status == 0 and "in distribution" in out
    report = json.load(open(checkpoint.parent / "eval.json"))
    assert report["splits"]["test"]["n"] == 10


def test_sample_shows_the_scratchpad_and_the_verdict(checkpoint, capsys):
    status, out, _ = run(capsys, "sample", "--checkpoint", checkpoint, "29+57")
    assert status == 0
    assert out.startswith("2 9 + 5 7\n")
    assert "checker: " in out and "answer: " in out and "right answer is 8 6" in out


def test_compare_trains_both_formats_and_prints_them_side_by_side(tmp_path, capsys):
    status, out, _ = run(capsys, "compare", *TINY, "--max-steps", "6", "--out", tmp_path)
    assert status == 0
    assert "direct answer %" in out and "scratchpad answer %" in out
    assert (tmp_path / "addition-direct" / "model.npz").exists()
    assert (tmp_path / "addition-scratchpad" / "model.npz").exists()


def test_bad_checkpoints_get_one_line_errors(tmp_path, checkpoint, capsys):
    status, _, err = run(capsys, "eval", "--checkpoint", tmp_path / "missing.npz")
    assert_one_line_error(status, err, "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    status, _, err = run(capsys, "sample", "--checkpoint", corrupt, "1+2")
    assert_one_line_error(status, err, "corrupt.npz")
    arrays, meta = load_checkpoint(checkpoint)
    meta["vocabulary"] = meta["vocabulary"][:-1]
    save_checkpoint(tmp_path / "other.npz", arrays, meta)
    status, _, err = run(capsys, "eval", "--checkpoint", tmp_path / "other.npz")
    assert_one_line_error(status, err, "vocabulary")
    arrays, meta = load_checkpoint(checkpoint)
    meta["model_config"]["n_embd"] = 48
    save_checkpoint(tmp_path / "misfit.npz", arrays, meta)
    status, _, err = run(capsys, "eval", "--checkpoint", tmp_path / "misfit.npz")
    assert_one_line_error(status, err, "shape")
    for damage in ({"train_config": dict(meta["train_config"], task="juggling")}, {"step": None}):
        arrays, meta = load_checkpoint(checkpoint)
        meta.update(damage)
        save_checkpoint(tmp_path / "damaged.npz", arrays, meta)
        status, _, err = run(capsys, "eval", "--checkpoint", tmp_path / "damaged.npz")
        assert_one_line_error(status, err, "rebuild")


@pytest.mark.parametrize("problem, says", [("29+5é", "not a sum"), ("hello", "not a sum"), ("29*57", "not a sum")])
def test_sample_refuses_what_is_not_a_sum(problem, says, checkpoint, capsys):
    status, _, err = run(capsys, "sample", "--checkpoint", checkpoint, problem)
    assert_one_line_error(status, err, says)


def test_bad_training_settings_get_one_line_errors_and_write_nothing(tmp_path, checkpoint, capsys):
    for argv, says in [(["--max-steps", "0"], "--max-steps"), (["--lr", "fast"], "invalid float"),
                       (["--n-layers", "2"], "unrecognized"), (["--task", "sorting"], "unknown task"),
                       (["--task", "polynomial"], "the polynomial task has no option --max-digits (its options: "
                                                  "--max-terms)"),
                       (["--max-terms", "2"], "the addition task has no option --max-terms")]:
        status, _, err = run(capsys, "train", *TINY, *argv, "--out", tmp_path / "run")
        assert_one_line_error(status, err, says)
    assert not (tmp_path / "run").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    status, _, err = run(capsys, "train", *TINY, "--out", blocked / "run")
    assert_one_line_error(status, err, "output folder")
    before = checkpoint.read_bytes()
    status, _, err = run(capsys, "train", *TINY, "--out", checkpoint.parent)
    assert_one_line_error(status, err, "--resume")
    status, _, err = run(capsys, "train", "--resume", "--n-embd", "64", "--out", checkpoint.parent)
    assert_one_line_error(status, err, "cannot change")
    status, _, err = run(capsys, "train", "--resume", "--max-digits", "5", "--out", checkpoint.parent)
    assert_one_line_error(status, err, "--max-digits cannot change")
    assert checkpoint.read_bytes() == before


def test_a_time_budget_alone_lets_time_decide(tmp_path, capsys):
    argv = [word for word in TINY]
    del argv[argv.index("--max-steps"):argv.index("--max-steps") + 2]
    status, out, _ = run(capsys, "train", *argv, "--max-minutes", "0.02", "--out", tmp_path / "run")
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
    status, out, _ = run(capsys, "train", "--resume", "--out", run_folder, "--max-minutes", minutes, "--no-progress")
    assert status == 0 and f"for {float(minutes):g} minutes" in out
    assert load_checkpoint(run_folder / "model.npz")[1]["step"] > before


def test_the_resolved_config_shows_the_tasks_own_options_after_the_task(capsys):
    from minipad.commands import add_train_arguments, build_config, print_config
    from minipad.cli import OneLineParser
    parser = OneLineParser()
    add_train_arguments(parser)
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
    status, out, _ = run(capsys, "eval", "--checkpoint", checkpoint, "--test-problems", "6", "--ood-problems", "0",
                         "--report", tmp_path / "report.json")
    assert status == 0 and f"saved {tmp_path / 'report.json'}" in out and "in distribution" in out
    assert json.load(open(tmp_path / "report.json"))["splits"]["test"]["n"] == 6
    assert (checkpoint.parent / "eval.json").read_bytes() == before   # the run's own report is left alone
    status, out, err = run(capsys, "eval", "--checkpoint", checkpoint, "--test-problems", "6", "--ood-problems", "0",
                           "--report", "-")
    assert status == 0
    assert json.loads(out)["splits"]["test"]["n"] == 6   # standard output holds the JSON alone
    assert "in distribution" in err                        # the table went to standard error
    for report, says in [(tmp_path / "report.txt", "does not end in .json"),
                         (tmp_path / "missing" / "report.json", "does not exist"),
                         (tmp_path, "is a folder")]:
        status, _, err = run(capsys, "eval", "--checkpoint", checkpoint, "--report", report)
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
        status, out, err = run(capsys, "eval", "--checkpoint", folder / "model.npz", "--test-problems", "6",
                               "--ood-problems", "0")
        assert status == 0, err
        assert "in distribution" in out and "not saved: the folder of" in out and "read-only" in out
        assert sorted(os.listdir(folder)) == ["model.npz"]
    finally:
        folder.chmod(stat.S_IRWXU)
