"""The lengths command: every scheme trained under one budget, one table, finished runs reused."""
import json

import pytest

from conftest import assert_one_line_error, run_minipad
from minipad.lengths import SCHEMES, cell, lengths_table

TINY = ["--max-digits", "2", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch-size", "8",
        "--warmup-steps", "2", "--max-steps", "6", "--eval-every", "6", "--eval-problems", "4",
        "--test-problems", "6", "--problems-per-size", "3", "--workers", "1", "--seeds", "0,1", "--sizes", "3,4"]


def test_one_table_with_every_scheme_and_size_then_finished_runs_are_reused(tmp_path, capsys):
    schemes = "direct,coupled+places+roles+window"
    status, out, _ = run_minipad(capsys, "lengths", *TINY, "--schemes", schemes, "--out", tmp_path)
    assert status == 0
    header = next(line for line in out.splitlines() if line.startswith("scheme"))
    for column in ("1-2 answer", "1-2 target", "3 answer", "4 target", "steps", "train min"):
        assert column in header
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in SCHEMES}
    assert set(rows) == {"direct", "coupled+places+roles+window"}
    saved = json.loads((tmp_path / "lengths.json").read_text())
    assert [report["step"] for report in saved["direct"]] == [6, 6]
    assert {"3", "4"} <= set(saved["coupled+places+roles+window"][0]["by_size"])
    status, out, _ = run_minipad(capsys, "lengths", *TINY, "--schemes", schemes, "--out", tmp_path)
    assert status == 0 and out.count("reusing") == 4


@pytest.mark.parametrize("argv, says", [
    (["--schemes", "rope,sinusoid"], "unknown scheme 'sinusoid'"),
    (["--format", "direct"], "--format is set by each scheme"),
    (["--seeds", "a"], "separated by commas"),
    (["--places", "8"], "--places is set by each scheme"),
])
def test_bad_options_get_one_line(tmp_path, capsys, argv, says):
    status, _, err = run_minipad(capsys, "lengths", *TINY, *argv, "--out", tmp_path)
    assert_one_line_error(status, err, says)


def test_cells_show_the_median_and_the_range_over_seeds():
    assert cell([0.9, 0.5, 0.97]) == "90.0 (50.0-97.0)"
    assert cell([0.25]) == "25.0"
    summary = lambda accuracy: {"answer_accuracy": accuracy, "target_accuracy": accuracy / 2}
    report = lambda accuracy: {"splits": {"test": summary(1.0)}, "by_size": {"9": summary(accuracy)},
                               "step": 10, "train_minutes": 0.5}
    table = lengths_table({"places": [report(0.5), report(0.7), report(0.6)]}, [9], "1-8")
    assert "60.0 (50.0-70.0)" in table and "30.0 (25.0-35.0)" in table


def test_eval_takes_longer_sizes_and_refuses_sums_the_model_cannot_hold(tmp_path, capsys):
    run_folder = tmp_path / "run"
    status, _, _ = run_minipad(capsys, "train", "--max-digits", "2", "--n-layer", "1", "--n-head", "2",
                               "--n-embd", "16", "--batch-size", "4", "--max-steps", "2", "--warmup-steps", "1",
                               "--test-problems", "2", "--ood-problems", "0", "--block-size", "120", "--workers", "1",
                               "--no-progress", "--out", run_folder)
    assert status == 0
    status, out, _ = run_minipad(capsys, "eval", "--checkpoint", run_folder / "model.npz", "--test-problems", "2",
                                 "--ood-problems", "4", "--ood-digits", "3,4")
    assert status == 0
    sizes = [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert {"3", "4"} <= set(sizes)
    status, _, err = run_minipad(capsys, "eval", "--checkpoint", run_folder / "model.npz", "--ood-digits", "9,12")
    assert_one_line_error(status, err, "this model holds 120")


def test_a_scheme_switches_on_only_what_it_names():
    from minipad.lengths import scheme_config
    rope = scheme_config("rope", 0, {}, "out")
    assert (rope.position_ids, rope.places, rope.roles, rope.line_window) == ("plain", 0, 0, False)
    table = scheme_config("coupled+places+roles+window", 0, {}, "out")
    assert (table.position_ids, table.places, table.roles, table.line_window) == ("coupled", 33, 8, True)
    scheme_config("learned", 0, {}, "out").model_config(10)   # a learned table with plain ids is valid
