"""Evaluation: let the model write its answer to held-out problems and judge what it wrote.

For each problem the model reads the prompt (input and newline) and decodes greedily until it writes
end-of-text. Three things are measured:

  * answer accuracy: the last line it wrote equals the right answer (the paper's exact match);
  * target accuracy: everything it wrote equals the target (for a scratchpad, every step right too);
  * the checker's verdict on what it wrote: correct, or the kind of its first mistake.

Results are grouped by problem size (addition: digits of the longer operand; polynomials: terms) and
summed inside and outside the training range.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .data import encode_example, prompt_text
from .generate import generate
from .table import format_table
from .tasks import Example, Task
from .positions import decoding_layouts
from .tasks.base import SCRATCH_OPEN, VERDICT_KINDS, answer_of
from .tokenizer import Tokenizer

ERROR_KINDS = tuple(kind for kind in VERDICT_KINDS if kind != "correct")


def decode_answers(model, task: Task, examples: list[Example], fmt: str | None = None) -> list[str]:
    """The text the model writes after each example's prompt (greedy, with the key/value cache).

    generate batches the prompts by length itself; each row may write a little more than its target
    (room to go wrong by writing too much) but never past the model's block size.
    """
    tokenizer = Tokenizer(task.spaced_digits)
    prompts = [tokenizer.encode(prompt_text(example)) for example in examples]
    longest_target = max(len(encode_example(tokenizer, e)[0]) - len(p) for e, p in zip(examples, prompts))
    if fmt is None and examples:  # the format the examples are written in
        fmt = "scratchpad" if examples[0].target.startswith(SCRATCH_OPEN) else "direct"
    layouts = decoding_layouts(model.config, task, fmt, tokenizer, examples)
    outputs = generate(model, prompts, longest_target + 8, stop_token=tokenizer.eos_id, layouts=layouts)
    return [tokenizer.decode(output) for output in outputs]


def score(task: Task, fmt: str, examples: list[Example], written: list[str]) -> list[dict]:
    """One record per example: its size, whether answer and target match, and the checker's verdict."""
    records = []
    for example, text in zip(examples, written):
        verdict = task.check(example.input, text, fmt)
        records.append({
            "length": example.length,
            "answer_correct": answer_of(text) == example.answer,
            "target_correct": text == example.target,
            "verdict": verdict.kind,
        })
    return records


def summarise(records: list[dict]) -> dict:
    """Counts and accuracies of a group of records."""
    n = len(records)
    kinds = Counter(record["verdict"] for record in records)
    return {
        "n": n,
        "answer_accuracy": sum(r["answer_correct"] for r in records) / n if n else float("nan"),
        "target_accuracy": sum(r["target_correct"] for r in records) / n if n else float("nan"),
        "errors": {kind: kinds.get(kind, 0) for kind in ERROR_KINDS},
    }


def evaluate(model, task: Task, fmt: str, test: list[Example], ood: list[Example] | None = None) -> dict:
    """Accuracy per size and inside ("test") and outside ("ood") the training range, as a JSON-able dict."""
    groups = {"test": test, "ood": ood or []}
    report = {"task": task.name, "format": fmt, "by_length": {}, "splits": {}}
    all_records = []
    for split, examples in groups.items():
        if not examples:
            continue
        records = score(task, fmt, examples, decode_answers(model, task, examples, fmt))
        report["splits"][split] = summarise(records)
        all_records += records
    for length in sorted({record["length"] for record in all_records}):
        report["by_length"][str(length)] = summarise([r for r in all_records if r["length"] == length])
    return report


def quick_accuracy(model, task: Task, fmt: str, examples: list[Example]) -> float:
    """Answer accuracy alone, for progress reports during training."""
    written = decode_answers(model, task, examples, fmt)
    return float(np.mean([answer_of(text) == example.answer for example, text in zip(examples, written)]))


def format_report(report: dict, size_name: str = "digits") -> str:
    """The report as a table: one row per size, then one per split; accuracies in percent."""
    headers = [size_name, "problems", "answer %", "target %"] + list(ERROR_KINDS)
    names = {"test": "in distribution", "ood": "out of distribution"}

    def row(label, summary):
        return [label, summary["n"], f"{100 * summary['answer_accuracy']:.1f}",
                f"{100 * summary['target_accuracy']:.1f}"] + [summary["errors"][k] for k in ERROR_KINDS]

    rows = [row(length, summary) for length, summary in report["by_length"].items()]
    rows += [row(names[split], summary) for split, summary in report["splits"].items()]
    return format_table(headers, rows)
