"""The data command: the paper's text on screen, JSONL on disk, one-line errors for bad input."""
import json
import os
import subprocess
import sys

import pytest

from minipad.cli import main


def run(capsys, *argv):
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_prints_the_papers_format(capsys):
    status, out, _ = run(capsys, "data", "--task", "addition", "--format", "scratchpad", "-n", "3", "--seed", "0")
    assert status == 0
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    for block in blocks:
        lines = block.split("\n")
        assert lines[1] == "<scratch>" and lines[-2] == "</scratch>"


def test_writes_jsonl(tmp_path, capsys):
    path = tmp_path / "train.jsonl"
    status, out, _ = run(capsys, "data", "--task", "polynomial", "--format", "direct", "-n", "40", "--out", str(path))
    assert status == 0 and "wrote 40" in out
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 40 and set(rows[0]) == {"input", "target"}
    assert rows[0]["target"].startswith("total: ")


def test_out_dash_writes_the_jsonl_to_standard_output(tmp_path, capsys):
    path = tmp_path / "test.jsonl"
    status, _, _ = run(capsys, "data", "--split", "test", "-n", "7", "--seed", "3", "--out", str(path))
    assert status == 0
    status, out, err = run(capsys, "data", "--split", "test", "-n", "7", "--seed", "3", "--out", "-")
    assert (status, err) == (0, "")
    assert out == path.read_text()   # the same lines as the file, and nothing else
    assert not (tmp_path / "-").exists() and not os.path.exists("-")
    status, _, err = run(capsys, "data", "--comments", "--out", "-")
    assert status == 2 and "--comments" in err


@pytest.mark.parametrize("argv, says", [
    (["--task", "multiplication"], "invalid choice"),
    (["--format", "compact"], "invalid choice"),
    (["-n", "0"], "at least 1"),
    (["-n", "-4"], "at least 1"),
    (["--min-digits", "5", "--max-digits", "3"], "digit range"),
    (["--max-digits", "31"], "digit range"),
    (["--task", "polynomial", "--max-digits", "3"], "polynomial task has no option --max-digits (its options: --max-terms)"),
    (["--max-terms", "2"], "addition task has no option --max-terms"),
    (["--task", "polynomial", "--max-terms", "4"], "--max-terms must lie in 1..3"),
    (["--task", "polynomial", "--split", "ood"], "no out-of-distribution"),
    (["--out", "/no/such/folder/data.jsonl"], "does not exist"),
    (["--out", "{tmp}"], "is a folder"),
    (["--problem", "29+57", "--out", "{tmp}/one.jsonl"], "leave out --out"),
    (["-n", "0", "--out", "{tmp}/data.jsonl"], "at least 1"),
    (["--seed", "-3", "--out", "{tmp}/data.jsonl"], "at least 0"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, says, capsys, tmp_path):
    status, out, err = run(capsys, "data", *[word.replace("{tmp}", str(tmp_path)) for word in argv])
    assert status == 2
    assert err.count("\n") == 1 and says in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_reports_one_line_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minipad", "data", "-n", "0", "--out", str(tmp_path / "x.jsonl")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_one_problem_can_be_rendered_by_name(capsys):
    status, out, _ = run(capsys, "data", "--problem", "29+57")
    assert status == 0
    assert out == "2 9 + 5 7\n<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6\n"
    status, out, _ = run(capsys, "data", "--task", "polynomial", "--format", "direct",
                         "--problem", "Evaluate -7*x**2 + 7*x + 5 at x = 1")
    assert (status, out) == (0, "Evaluate -7*x**2 + 7*x + 5 at x = 1\ntotal: 5\n")
    status, _, err = run(capsys, "data", "--problem", "12+x")
    assert status == 2 and "not a sum" in err and err.count("\n") == 1


def test_check_names_the_first_wrong_step(capsys):
    good = "<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6"
    status, out, _ = run(capsys, "check", "2 9 + 5 7", good)
    assert status == 0 and out.startswith("correct")
    status, out, _ = run(capsys, "check", "2 9 + 5 7", good.replace("6 C: 1", "6 C: 0"))
    assert status == 1 and out.startswith("wrong carry at line 3")
