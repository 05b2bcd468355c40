"""The README's section on taking the data to a bigger trainer: its JSONL line and its example are right."""
import json
import re
import subprocess
import sys
from pathlib import Path

from minipad.cli import main
from minipad.data import encode_example, make_batch, sample_examples, split_rng
from minipad.tasks import get_task

README = Path(__file__).resolve().parent.parent / "README.md"


def section(title):
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_the_jsonl_line_shown_is_the_one_data_writes(tmp_path):
    shown = re.search(r"```\n(\{.*\})\n```", section("Taking the data to a bigger trainer"))[1]
    task = get_task("addition")
    example = task.render(task.parse_input("29+57"), "scratchpad")
    assert json.loads(shown) == {"input": example.input, "target": example.target}


def test_the_reading_example_runs_and_rebuilds_what_minipad_trains_on(tmp_path):
    code = re.search(r"```python\n(.*?)```", section("Taking the data to a bigger trainer"), re.DOTALL)[1]
    assert len(code.strip().splitlines()) <= 10
    assert main(["data", "-n", "5", "--seed", "4", "--out", str(tmp_path / "train.jsonl")]) == 0
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    task = get_task("addition")
    first = sample_examples(task, "train", 5, "scratchpad", split_rng(4, "train"))[0]
    tokenizer = task.tokenizer()
    sequence, prompt_length = encode_example(tokenizer, first)
    assert sequence[-1] == tokenizer.eos_id   # minipad's sequence: the text below, then end of text
    trained_on = tokenizer.decode(sequence) + "<eos>"
    assert result.stdout == f"5 pairs; the first one, as minipad trains on it: {trained_on!r}\n"
    # the loss counts the completion's tokens (the target, then end of text) and nothing of the prompt
    assert tokenizer.decode(sequence[:prompt_length]) == first.input + "\n"
    batch = make_batch(tokenizer, [first])
    counted = batch.targets[0][batch.mask[0] == 1]
    assert list(counted) == sequence[prompt_length:] and tokenizer.decode(counted) == first.target
