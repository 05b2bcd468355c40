"""Install once: requirements.txt installs minipad itself, so 'python -m minipad' runs from any folder."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE_2 = "2 9 + 5 7\n<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6\n"


def test_requirements_install_minipad_itself():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in lines


def test_python_m_minipad_runs_from_any_folder(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "minipad", "data", "--problem", "29+57"], cwd=tmp_path,
                            capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, ("minipad is not installed: run 'pip install -r requirements.txt' in the "
                                    f"repository root\n{result.stderr[-2000:]}")
    assert result.stdout == FIGURE_2
