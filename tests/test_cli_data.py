"""The data command: the paper's text on screen, JSONL on disk, one-line errors for bad input."""
import json
import os
import shlex
import subprocess
import sys

import pytest

from conftest import assert_one_line_error, run_minipad
from minipad.cli import main


def test_prints_the_papers_format(capsys):
    status, out, _ = run_minipad(capsys, "data", "--task", "addition", "--format", "scratchpad", "-n", "3",
                                 "--seed", "0")
    assert status == 0
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    for block in blocks:
        lines = block.split("\n")
        assert lines[1] == "<scratch>" and lines[-2] == "</scratch>"


def test_writes_jsonl(tmp_path, capsys):
    path = tmp_path / "train.jsonl"
    status, out, _ = run_minipad(capsys, "data", "--task", "polynomial", "--format", "direct", "-n", "40",
                                 "--out", str(path))
    assert status == 0 and "wrote 40" in out
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 40 and set(rows[0]) == {"input", "target"}
    assert rows[0]["target"].startswith("total: ")


def test_out_dash_writes_the_jsonl_to_standard_output(tmp_path, capsys):
    path = tmp_path / "test.jsonl"
    status, _, _ = run_minipad(capsys, "data", "--split", "test", "-n", "7", "--seed", "3", "--out", str(path))
    assert status == 0
    status, out, err = run_minipad(capsys, "data", "--split", "test", "-n", "7", "--seed", "3", "--out", "-")
    assert (status, err) == (0, "")
    assert out == path.read_text()   # the same lines as the file, and nothing else
    assert not (tmp_path / "-").exists() and not os.path.exists("-")
    status, _, err = run_minipad(capsys, "data", "--comments", "--out", "-")
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
    status, out, err = run_minipad(capsys, "data", *[word.replace("{tmp}", str(tmp_path)) for word in argv])
    assert_one_line_error(status, err, says)
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_reports_one_line_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minipad", "data", "-n", "0", "--out", str(tmp_path / "x.jsonl")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_one_problem_can_be_rendered_by_name(capsys):
    status, out, _ = run_minipad(capsys, "data", "--problem", "29+57")
    assert status == 0
    assert out == "2 9 + 5 7\n<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6\n"
    status, out, _ = run_minipad(capsys, "data", "--task", "polynomial", "--format", "direct",
                                 "--problem", "Evaluate -7*x**2 + 7*x + 5 at x = 1")
    assert (status, out) == (0, "Evaluate -7*x**2 + 7*x + 5 at x = 1\ntotal: 5\n")
    status, _, err = run_minipad(capsys, "data", "--problem", "12+x")
    assert_one_line_error(status, err, "not a sum")


def test_check_names_the_first_wrong_step(capsys):
    good = "<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6"
    status, out, _ = run_minipad(capsys, "check", "2 9 + 5 7", good)
    assert status == 0 and out.startswith("correct")
    status, out, _ = run_minipad(capsys, "check", "2 9 + 5 7", good.replace("6 C: 1", "6 C: 0"))
    assert status == 1 and out.startswith("wrong carry at line 3")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_dataset_is_streamed_to_its_file_as_it_is_drawn(tmp_path, monkeypatch):
    """data -n 10000000 must not hold every example in memory: lines reach the disk while drawing goes on,
    and the file appears under its name only at the end (still atomic)."""
    import minipad.cli.data as data_command
    path = tmp_path / "big.jsonl"
    seen_on_disk = []
    real = data_command.iterate_examples

    def watched(*args, **kwargs):
        for index, example in enumerate(real(*args, **kwargs)):
            if index == 2_000:
                temporary = [p for p in tmp_path.iterdir() if p.name.startswith(".big.jsonl.")]
                seen_on_disk.append((not path.exists(), sum(p.stat().st_size for p in temporary)))
            yield example

    monkeypatch.setattr(data_command, "iterate_examples", watched)
    status = main(["data", "--format", "direct", "-n", "3000", "--out", str(path)])
    assert status == 0
    (not_yet_named, written_so_far), = seen_on_disk
    assert not_yet_named and written_so_far > 30_000   # about 2,000 lines already written, none held back
    assert len(path.read_text().splitlines()) == 3000
    assert os.listdir(tmp_path) == ["big.jsonl"]


def test_data_piped_into_check_as_the_readme_shows(tmp_path):
    environment = dict(os.environ, PYTHONPATH=ROOT)
    python = shlex.quote(sys.executable)
    right = subprocess.run(f'{python} -m minipad data --problem 29+57 | {python} -m minipad check "2 9 + 5 7"',
                           shell=True, executable="/bin/bash", capture_output=True, text=True, env=environment)
    assert (right.returncode, right.stdout) == (0, "correct\n"), right.stderr
    wrong = subprocess.run(f'{python} -m minipad data --problem 29+57 | sed "s/C: 1/C: 0/" | '
                           f'{python} -m minipad check 29+57', shell=True, executable="/bin/bash",
                           capture_output=True, text=True, env=environment)
    assert wrong.returncode == 1 and wrong.stdout.startswith("wrong carry at line 3"), wrong.stdout + wrong.stderr


def test_readme_check_examples_print_what_the_readme_says():
    lines = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()
    examples = [(line[2:], lines[index + 1]) for index, line in enumerate(lines)
                if line.startswith("$ ") and "minipad check" in line]
    assert len(examples) >= 2, "the README shows no check example to paste"
    for command, expected in examples:
        result = subprocess.run(command, shell=True, executable="/bin/bash", cwd=ROOT, capture_output=True,
                                text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
        assert result.stdout == expected + "\n", f"{command}\n{result.stdout}{result.stderr}"


def test_check_on_a_terminal_says_it_reads_the_target_from_standard_input():
    import pty
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "minipad", "check", "2 9 + 5 7"], stdin=follower,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=ROOT))
    os.close(follower)
    target = "<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6\n"
    os.write(leader, target.encode() + b"\x04")   # typed, then Ctrl-D
    out, err = child.communicate(timeout=120)
    os.close(leader)
    assert "reading the target from standard input" in err and "Ctrl-D" in err
    assert child.returncode == 0 and out == "correct\n", out + err


PROGRAM = "def f(a):\n    b = 0  # counts twice a\n    while a > 0:\n        b += 2\n        a -= 1\n    return b\noutput = f(2)\n"


def test_a_program_comes_from_a_file_and_is_traced_in_the_papers_layout(tmp_path, capsys, monkeypatch):
    import io
    path = tmp_path / "count.py"
    path.write_text(PROGRAM)
    status, out, _ = run_minipad(capsys, "data", "--task", "program", "--problem", f"@{path}")
    monkeypatch.setattr(sys, "stdin", io.StringIO(out))   # piped into check: the program's lines are skipped
    assert run_minipad(capsys, "check", "--task", "program", f"@{path}")[:2] == (0, "correct\n")
    lines = out.split("\n")
    assert status == 0 and lines[:2] == ["def f(a):", "  b = 0"]   # rewritten: two spaces, no comment
    assert "line:     b += 2" in lines and lines[-3:] == ["</scratch>", "output: 4", ""]
    status, out, _ = run_minipad(capsys, "data", "--task", "program", "--format", "direct", "--problem", PROGRAM)
    assert status == 0 and out.endswith("output = f(2)\noutput: 4\n")
    trace = "\n".join(lines[7:-1])
    assert run_minipad(capsys, "check", "--task", "program", f"@{path}", trace)[:2] == (0, "correct\n")
    status, out, _ = run_minipad(capsys, "check", "--task", "program", f"@{path}", trace.replace('"b": 4', '"b": 5'))
    assert status == 1 and out.startswith("wrong value at line")


@pytest.mark.parametrize("problem, says", [
    ("def f(a):\n  return a / 2\noutput = f(1)", "outside the program grammar"),
    ("def f(a):\n  while a > 0:\n    a += 1\n  return a\noutput = f(1)", "runs more than 200 lines"),
    ("def f(a):\n  return b\noutput = f(1)", "raises NameError"),
    ("@/no/such/program.py", "cannot read the problem from /no/such/program.py"),
])
def test_a_program_outside_the_grammar_or_that_fails_is_one_line(problem, says, capsys):
    status, _, err = run_minipad(capsys, "data", "--task", "program", "--problem", problem)
    assert_one_line_error(status, err, says)


def test_program_data_exports_jsonl_and_its_out_of_distribution_runs_longer(tmp_path, capsys):
    path = tmp_path / "ood.jsonl"
    status, out, _ = run_minipad(capsys, "data", "--task", "program", "--split", "ood", "--max-lines", "8", "-n", "5",
                                 "--out", str(path))
    assert status == 0 and "wrote 5 program scratchpad examples" in out
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(9 <= row["target"].count("\nline: ") <= 14 for row in rows)
