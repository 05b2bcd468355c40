"""The allocator setting a training program applies at its start."""
import platform
import subprocess
import sys

import pytest

from minipad.malloc import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_setting_that_keeps_freed_memory():
    assert keep_freed_memory() is True


def test_importing_the_model_changes_no_process_setting():
    """Only a program's entry point changes the allocator: importing the package must not."""
    probe = ("import minipad.malloc as malloc\n"
             "called = []\n"
             "malloc.keep_freed_memory = lambda: called.append(1)\n"
             "import minipad.model, minipad.train, minipad.generate, minipad.parallel\n"
             "print(len(called))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
