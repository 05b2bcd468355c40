"""Shared pytest setup: hypothesis profiles, and the helpers several test files use.

The "ci" profile (selected by HYPOTHESIS_PROFILE=ci, as .ci/run does) has no deadline and a bounded
number of examples, so a slow or busy machine never makes a test flaky. The "dev" profile, the default,
is the same with fewer examples for a fast edit-test loop.
"""
import os
import signal
import subprocess
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def run_minipad(capsys, *argv) -> tuple[int, str, str]:
    """``python -m minipad ARGV`` run in this process (each word as str): (exit status, stdout, stderr)."""
    from minipad.cli import main
    try:
        status = main([str(word) for word in argv])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, says):
    """A user's mistake as the command line reports it: exit status 2, one line that says ``says``, no
    traceback."""
    assert status == 2, err
    assert err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err


def interrupt_once_printed(command: list[str], text: str, pause: float, **popen_arguments) -> tuple[int, str, str]:
    """Start ``command``, press Ctrl-C (SIGINT) ``pause`` seconds after it prints a line holding ``text``:
    (exit status, what it printed after that line, its stderr)."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_arguments)
    for line in child.stdout:
        if text in line:
            break
    time.sleep(pause)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    return child.returncode, out, err


def assert_a_changed_digit_is_caught(task, example, data):
    """Change one digit of ``example``'s target (which one, and to what, drawn from hypothesis' ``data``):
    the task's checker must call the text wrong, at the changed line or before it."""
    from minipad.tasks.base import CORRECT
    digits = [i for i, character in enumerate(example.target) if character.isdigit()]
    position = data.draw(st.sampled_from(digits))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != example.target[position]]))
    broken = example.target[:position] + new + example.target[position + 1:]
    changed_line = example.target[:position].count("\n") + 1
    verdict = task.check(example.input, broken)
    assert verdict.kind != CORRECT, broken
    assert verdict.line is not None and verdict.line <= changed_line, (verdict, changed_line)


@pytest.fixture
def workers_answer(request, monkeypatch):
    """Fail the test if a worker process did not answer in it. A step computes a failed worker's part itself
    (minipad/parallel.py), so a broken worker would otherwise hide behind right answers. Tests that break
    workers on purpose are marked worker_failures."""
    from minipad import workers
    failures = []
    real_result = workers.WorkerProcess.result

    def result(self):
        try:
            return real_result(self)
        except workers.WorkerError as error:
            failures.append(str(error))
            raise

    monkeypatch.setattr(workers.WorkerProcess, "result", result)
    yield
    if request.node.get_closest_marker("worker_failures") is None:
        assert not failures, f"a worker process failed: {failures}"
