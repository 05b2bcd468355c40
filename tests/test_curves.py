"""The plot command: a run's curves drawn again from loss.csv and progress.csv, two runs on shared axes, the
same numbers in an SVG; one-line errors for bad input."""
import csv
import os
import shutil
import xml.etree.ElementTree as ElementTree

import pytest

from conftest import assert_one_line_error, run_minipad
from minipad.checkpoint import load_checkpoint
from minipad.cli import main
from minipad.svg import number

SVG = "{http://www.w3.org/2000/svg}"
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "48",
        "--batch-size", "8", "--warmup-steps", "2", "--max-steps", "13", "--eval-every", "4", "--eval-problems", "4",
        "--test-problems", "4", "--ood-problems", "0", "--workers", "1", "--no-progress"]


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))[1:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A direct and a scratchpad run of addition, and a polynomial run."""
    folder = tmp_path_factory.mktemp("curves")
    for format in ("direct", "scratchpad"):
        assert main(["train", *TINY, "--max-digits", "2", "--format", format, "--out", str(folder / format)]) == 0
    assert main(["train", *TINY, "--task", "polynomial", "--block-size", "80", "--max-steps", "3",
                 "--out", str(folder / "polynomial")]) == 0
    return folder


def test_training_saves_its_progress_evaluations_beside_the_checkpoint(runs):
    meta = load_checkpoint(runs / "scratchpad" / "model.npz")[1]
    rows = read_rows(runs / "scratchpad" / "progress.csv")
    assert [[int(step), float(accuracy)] for step, accuracy in rows] == meta["evaluations"]
    assert [int(row[0]) for row in rows] == [4, 8, 12]   # every --eval-every steps, before the last one
    assert [float(row[1]) for row in read_rows(runs / "scratchpad" / "loss.csv")] == [row[1] for row in meta["history"]]


def test_plot_draws_the_loss_and_the_accuracy_of_a_run(runs, capsys):
    status, out, _ = run_minipad(capsys, "plot", runs / "scratchpad")
    assert status == 0
    lines = out.split("\n")
    assert lines[0].startswith(f"{runs / 'scratchpad'}: addition, scratchpad; 13 steps")
    losses = [float(row[1]) for row in read_rows(runs / "scratchpad" / "loss.csv")]
    loss_plot = lines[lines.index("training loss (log scale), steps 1-13") + 1:]
    assert loss_plot[0].split("┤")[0].strip() == f"{max(losses):.4g}"
    assert loss_plot[11].split("┤")[0].strip() == f"{min(losses):.4g}"
    accuracy_plot = lines[lines.index("held-out answer accuracy (%) at the progress evaluations") + 1:]
    assert accuracy_plot[0].startswith("100 ┤") and accuracy_plot[11].startswith("  0 ┤")
    assert accuracy_plot[13].split() == ["1", "13"]   # the accuracy shares the loss plot's steps


def test_compare_overlays_two_runs_and_numbers_them(runs, capsys):
    status, out, _ = run_minipad(capsys, "plot", "--compare", runs / "direct", runs / "scratchpad")
    assert status == 0
    assert f"1: {runs / 'direct'}: addition, direct" in out and f"2: {runs / 'scratchpad'}: addition, scratchpad" in out
    plot_lines = [line for line in out.split("\n") if "┤" in line or "│" in line]
    ends = [line.rsplit(" ", 1)[-1] for line in plot_lines if line[-1] in "12"]
    assert sorted(",".join(ends).split(",")) == ["1", "1", "2", "2"]   # each run's end, in both plots


def test_a_run_saved_before_progress_csv_existed_is_read_from_its_checkpoint(runs, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(runs / "scratchpad", old)
    os.remove(old / "progress.csv")
    status, out, _ = run_minipad(capsys, "plot", old)
    assert status == 0 and "held-out answer accuracy (%)" in out
    assert "last progress evaluation" in out and "(step 12)" in out


def test_the_svg_holds_the_plotted_values(runs, tmp_path, capsys):
    path = tmp_path / "curves.svg"
    status, out, _ = run_minipad(capsys, "plot", "--compare", runs / "direct", runs / "scratchpad", "--svg", path)
    assert status == 0 and f"saved {path}" in out
    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    lines = [polyline for polyline in root.iter(f"{SVG}polyline") if polyline.get("class") == "series"]
    assert len(lines) == 4   # two runs, in the loss chart and in the accuracy chart
    for polyline, format in zip(lines[:2], ("direct", "scratchpad")):
        rows = read_rows(runs / format / "loss.csv")
        assert format in polyline.get("data-name")
        assert polyline.get("data-x").split() == [number(float(row[0])) for row in rows]
        assert [float(y) for y in polyline.get("data-y").split()] == [float(row[1]) for row in rows]
    for polyline, format in zip(lines[2:], ("direct", "scratchpad")):
        rows = read_rows(runs / format / "progress.csv")
        assert polyline.get("data-y").split() == [number(100 * float(row[1])) for row in rows]
    points = [circle for circle in root.iter(f"{SVG}circle") if circle.get("class") == "point"]
    assert len(points) == 6 and all(circle.find(f"{SVG}title").text.startswith("/") for circle in points)


def test_bad_input_gets_one_line_and_writes_nothing(runs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    damaged = tmp_path / "damaged"
    shutil.copytree(runs / "direct", damaged)
    with open(damaged / "loss.csv", "a") as file:
        file.write("14,not a number,0.1,0.1\n")
    cases = [
        ([tmp_path / "missing"], "no run folder"),
        ([runs / "direct" / "loss.csv"], "is a file, not a run folder"),
        ([empty], "holds no loss.csv"),
        ([damaged], "damaged at line 15"),
        (["--compare", runs / "direct", runs / "polynomial"], "compare two runs of one task"),
        (["--compare", runs / "direct", tmp_path / "missing"], "no run folder"),
        ([runs / "direct", "--compare", runs / "direct", runs / "scratchpad"], "give one run folder, or --compare"),
        ([], "give one run folder, or --compare"),
        ([runs / "direct", "--svg", tmp_path / "no" / "curves.svg"], "does not exist"),
        ([runs / "direct", "--svg", tmp_path / "curves.png"], "does not end in .svg"),
    ]
    for argv, says in cases:
        status, _, err = run_minipad(capsys, "plot", *argv)
        assert_one_line_error(status, err, says)
    assert sorted(os.listdir(tmp_path)) == ["damaged", "empty"]
