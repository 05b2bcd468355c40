"""Every lesson runs end to end with --quick, exits 0 and prints its key lines.

Each lesson runs in a subprocess from a temporary folder, writing its models there (--out), so nothing
is left in the repository. All of them together take about a minute on a 2-core laptop.
"""
import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import interrupt_once_printed

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
sys.path.insert(0, str(LESSONS_DIR))

# lesson file -> lines its --quick run must print (besides the final "all ... checks passed")
KEY_LINES = {
    "01_scratchpads_as_data.py": ["29 + 57 is written exactly as the paper's Figure 2",
                                  "every one-digit change is caught"],
    "02_backprop_by_hand.py": ["your dx, dweight and dbias equal minipad.nn.linear_backward's",
                               "with a random upstream gradient, the broken backward is caught"],
    "03_layernorm_and_gelu.py": ["the folded backward passes the gradient check",
                                 "the derivative of the other approximation fails"],
    "04_causal_self_attention.py": ["the same law for a whole GPT", "both pass the gradient check"],
    "05_the_whole_gpt.py": ["every gradient is right with position=rope", "the loss on the batch falls below 0.05"],
    "06_answering_directly.py": ["--- 5. Both runs, side by side", "training sizes"],
    "07_showing_the_work.py": ["scratchpad, every step right %", "unseen sizes"],
    "08_reading_the_models_mind.py": ["the checker judged every scratchpad",
                                      "the lesson's token labels rebuild both operands"],
    "09_polynomials.py": ["scratchpad, every line right %", "the scratchpad run finished its 200 steps"],
    "10_fast_generation.py": ["cached logits equal the full forward pass", "the cache is faster"],
    "11_longer_sums.py": ["in the table's positions it is the same for every size", "table positions %"],
    "12_running_programs.py": ["one changed value is a wrong value, named at its line",
                               "scratchpad, every line right %", "checker: "],
}
SAVES_RUNS = {"06_answering_directly.py", "07_showing_the_work.py", "08_reading_the_models_mind.py",
              "09_polynomials.py", "10_fast_generation.py", "11_longer_sums.py", "12_running_programs.py"}


def lesson_files():
    return sorted(path.name for path in LESSONS_DIR.glob("[0-9][0-9]_*.py"))


def run_lesson(name, folder, *extra, quick=True):
    command = [sys.executable, str(LESSONS_DIR / name), *(["--quick"] if quick else []), *extra]
    if name in SAVES_RUNS:
        command += ["--out", str(folder / "runs")]
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300, env=environment)


# Lessons whose default run takes seconds: tested at their defaults too, not only with --quick.
FAST_AT_DEFAULTS = ["01_scratchpads_as_data.py", "02_backprop_by_hand.py", "03_layernorm_and_gelu.py",
                    "04_causal_self_attention.py", "05_the_whole_gpt.py", "10_fast_generation.py"]
# --quick at more seeds: three for the lessons that take a second or two, two for those that train.
QUICK_SEEDS = {name: (1, 2) if name in FAST_AT_DEFAULTS else (1,) for name in KEY_LINES}


def assert_lesson_passed(name, result, folder):
    output = result.stdout
    assert result.returncode == 0, f"{name} exited with {result.returncode}\n{output[-3000:]}\n{result.stderr[-3000:]}"
    number = int(name[:2])
    assert f"lesson {number}: all " in output and " checks passed" in output, output[-2000:]
    for line in KEY_LINES[name]:
        assert line in output, f"{name} did not print {line!r}\n{output[-3000:]}"


def test_every_lesson_is_tested():
    assert lesson_files() == sorted(KEY_LINES)


@pytest.mark.lesson
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KEY_LINES))
def test_lesson_runs_quick(name, tmp_path):
    result = run_lesson(name, tmp_path)
    assert_lesson_passed(name, result, tmp_path)
    if name in SAVES_RUNS - {"10_fast_generation.py"}:
        assert list((tmp_path / "runs").glob("*/model.npz")), "the lesson saved no model in --out"


@pytest.mark.lesson
@pytest.mark.slow
@pytest.mark.parametrize("name, seed", [(name, seed) for name in sorted(KEY_LINES) for seed in QUICK_SEEDS[name]])
def test_lesson_runs_quick_at_other_seeds(name, seed, tmp_path):
    assert_lesson_passed(name, run_lesson(name, tmp_path, "--seed", str(seed)), tmp_path)


@pytest.mark.lesson
@pytest.mark.slow
@pytest.mark.parametrize("name", FAST_AT_DEFAULTS)
def test_lesson_runs_at_its_defaults(name, tmp_path):
    """What a learner runs first: the lesson without --quick (its default run takes seconds)."""
    assert_lesson_passed(name, run_lesson(name, tmp_path, quick=False), tmp_path)


@pytest.mark.lesson
def test_lessons_fail_as_the_command_line_does_without_a_traceback(tmp_path):
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # an output folder that cannot be written: one line, exit status 2
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    result = subprocess.run([sys.executable, str(LESSONS_DIR / "06_answering_directly.py"), "--quick", "--out",
                             str(blocked / "runs")], cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "06_answering_directly.py: error: cannot write to the output folder" in result.stderr
    # '| head -1': the lesson stops quietly when its reader goes away
    piped = subprocess.run(f"{shlex.quote(sys.executable)} {shlex.quote(str(LESSONS_DIR / '01_scratchpads_as_data.py'))}"
                           f" --quick | head -1", shell=True, executable="/bin/bash", capture_output=True, text=True,
                           env=environment, timeout=300)
    assert piped.stdout.startswith("====") and piped.stderr == "", piped.stderr
    # Ctrl-C while the lesson trains: one line, exit status 130
    status, _, err = interrupt_once_printed([sys.executable, str(LESSONS_DIR / "06_answering_directly.py"), "--quick",
                                             "--out", str(tmp_path / "runs")], "training addition", 0.5, cwd=tmp_path,
                                            env=environment)
    assert status == 130, err
    assert "Traceback" not in err and err.endswith("06_answering_directly.py: interrupted\n"), err


@pytest.mark.parametrize("name", sorted(KEY_LINES))
def test_lesson_header(name):
    """The docstring says what the lesson is for, what to read, how long it takes and what to expect."""
    docstring = ast.get_docstring(ast.parse((LESSONS_DIR / name).read_text(encoding="utf-8")))
    assert docstring and docstring.startswith(f"Lesson {int(name[:2])}: ")
    for part in ("Goal:", "Read first:", "Time:", "What you should see:", "Run:"):
        assert part in docstring, f"{name} has no {part!r} in its docstring"
    assert "--quick" in docstring


def test_a_failed_check_makes_the_exit_status_1(capsys):
    from _common import Lesson
    lesson = Lesson(0, "checks")
    assert lesson.check(True, "a law that holds")
    assert not lesson.check(False, "a law that breaks", "detail")
    with pytest.raises(SystemExit) as exit_info:
        lesson.finish(["an exercise"])
    assert exit_info.value.code == 1
    output = capsys.readouterr().out
    assert "check FAILED: a law that breaks  (detail)" in output
    assert "1 of 2 checks FAILED" in output


def test_all_checks_passing_ends_with_status_0(capsys):
    from _common import Lesson
    lesson = Lesson(0, "checks")
    lesson.check(True, "a law that holds")
    lesson.finish([])   # returns normally: the script then ends with status 0
    assert "lesson 0: all 1 checks passed" in capsys.readouterr().out


CELL_MARKER = re.compile(r"^# %%.*$", re.MULTILINE)


def cells_of(name):
    """The code of each '# %%' cell of a lesson, in order."""
    return CELL_MARKER.split((LESSONS_DIR / name).read_text(encoding="utf-8"))[1:]


@pytest.mark.parametrize("name", sorted(KEY_LINES))
def test_lesson_opens_as_a_notebook(name):
    """'# %%' cells, as Jupyter (jupytext) and VS Code read them: the first at the top, each one whole
    Python on its own (no cell cuts a function in two), the last one running the lesson."""
    assert (LESSONS_DIR / name).read_text(encoding="utf-8").startswith("# %%\n")
    cells = cells_of(name)
    assert len(cells) >= 3
    for cell in cells:
        ast.parse(cell)
    assert cells[-1].strip() == 'if __name__ == "__main__":\n    run(main)'


def test_a_lesson_runs_cell_by_cell_as_in_a_jupyter_kernel(tmp_path):
    """The cells run one after the other in one namespace, with a kernel launcher's own arguments in
    sys.argv, which the lesson must not take for its own."""
    runner = (
        "import re, sys\n"
        f"sys.path.insert(0, {str(LESSONS_DIR)!r})\n"
        "sys.argv = ['/env/lib/python3/site-packages/ipykernel_launcher.py', '-f', '/tmp/kernel-1234.json']\n"
        "namespace = {'__name__': '__main__'}\n"
        f"source = open({str(LESSONS_DIR / '01_scratchpads_as_data.py')!r}, encoding='utf-8').read()\n"
        "for number, cell in enumerate(re.split(r'^# %%.*$', source, flags=re.MULTILINE)[1:]):\n"
        "    exec(compile(cell, f'<cell {number}>', 'exec'), namespace)\n"
    )
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", runner], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "lesson 1: all " in result.stdout and " checks passed" in result.stdout


def test_lesson_arguments_in_a_script_and_in_a_notebook(monkeypatch):
    from _common import DEFAULT_OUT, REPO_ROOT, parse_args
    from minipad.cli.arguments import UsageError
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "/run/user/0/kernel-7.json"])
    args = parse_args("Lesson 0: a test", with_out=True)
    assert args.quick is False and args.out == DEFAULT_OUT
    monkeypatch.setattr(sys, "argv", ["07_showing_the_work.py", "--quick", "--seed", "3"])
    args = parse_args("Lesson 0: a test")
    assert args.quick is True and args.seed == 3
    monkeypatch.setattr(sys, "argv", ["07_showing_the_work.py", "-f", "kernel.json"])
    with pytest.raises(UsageError, match="unrecognized arguments"):   # outside a kernel, still an error
        parse_args("Lesson 0: a test")
    # the lessons' runs have one home, whatever the current folder
    assert os.path.isabs(DEFAULT_OUT) and DEFAULT_OUT == os.path.join(REPO_ROOT, "runs", "lessons")
