"""Evaluation: let the model write its answer to held-out problems and judge what it wrote.

For each problem the model reads the prompt (input and newline) and decodes greedily until it writes
end-of-text. Three things are measured:

  * answer accuracy: the last line it wrote equals the right answer (the paper's exact match);
  * target accuracy: everything it wrote equals the target (for a scratchpad, every step right too);
  * the checker's verdict on what it wrote: correct, or the kind of its first mistake.

Results are grouped by problem size (what ``Example.size`` counts, named by ``Task.size_name``: addition
counts the digits of the longer operand) and summed inside and outside the training distribution. The
error columns are the task's own verdict kinds.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from tqdm import tqdm

from .data import encode_example, prompt_text
from .generate import generate
from .table import format_table
from .tasks import Example, Task
from .positions import decoding_layouts
from .tasks.base import SCRATCH_OPEN, answer_of



PROGRESS_CHUNK = 2048   # problems decoded between two updates of the progress bar


def decode_answers(model, task: Task, examples: list[Example], format: str | None = None, bar=None) -> list[str]:
    """The text the model writes after each example's prompt (greedy, with the key/value cache).

    generate batches the prompts by length itself; each row may write a little more than its target
    (room to go wrong by writing too much) but never past the model's block size. With a progress bar
    (tqdm), the problems are decoded a chunk at a time and the bar moves after each.
    """
    tokenizer = task.tokenizer()
    prompts = [tokenizer.encode(prompt_text(example)) for example in examples]
    longest_target = max(len(encode_example(tokenizer, e)[0]) - len(p) for e, p in zip(examples, prompts))
    if format is None and examples:  # the format the examples are written in
        format = "scratchpad" if examples[0].target.startswith(SCRATCH_OPEN) else "direct"
    chunk = PROGRESS_CHUNK if bar is not None else max(1, len(prompts))
    outputs = []
    for first in range(0, len(prompts), chunk):
        part = examples[first:first + chunk]
        layouts = decoding_layouts(model.config, task, format, tokenizer, part)
        outputs += generate(model, prompts[first:first + chunk], longest_target + 8, stop_token=tokenizer.eos_id,
                            layouts=layouts)
        if bar is not None:
            bar.update(len(part))
    return [tokenizer.decode(output) for output in outputs]


def score(task: Task, format: str, examples: list[Example], written: list[str]) -> list[dict]:
    """One record per example: its size, whether answer and target match, and the checker's verdict."""
    records = []
    for example, text in zip(examples, written):
        verdict = task.check(example.input, text, format)
        records.append({
            "size": example.size,
            "answer_correct": answer_of(text) == example.answer,
            "target_correct": text == example.target,
            "verdict": verdict.kind,
        })
    return records


def summarise(records: list[dict], error_kinds) -> dict:
    """Counts and accuracies of a group of records; a count of each of the task's ``error_kinds``."""
    n = len(records)
    kinds = Counter(record["verdict"] for record in records)
    return {
        "n": n,
        "answer_accuracy": sum(r["answer_correct"] for r in records) / n if n else float("nan"),
        "target_accuracy": sum(r["target_correct"] for r in records) / n if n else float("nan"),
        "errors": {kind: kinds.get(kind, 0) for kind in error_kinds},
    }


def evaluate(model, task: Task, format: str, test: list[Example], ood: list[Example] | None = None,
             progress: bool = False) -> dict:
    """Accuracy per size and inside ("test") and outside ("ood") the training range, as a JSON-able dict:
    {"task", "format", "size_name", "by_size": {size: summary}, "splits": {split: summary}}.

    progress: show a bar (on stderr) that moves from the start, for evaluations that take a while."""
    groups = {"test": test, "ood": ood or []}
    report = {"task": task.name, "format": format, "size_name": task.size_name, "by_size": {}, "splits": {}}
    all_records = []
    bar = tqdm(total=len(test) + len(ood or []), desc="evaluate", unit="problem", leave=False,
               disable=not progress) if progress else None
    for split, examples in groups.items():
        if not examples:
            continue
        records = score(task, format, examples, decode_answers(model, task, examples, format, bar))
        report["splits"][split] = summarise(records, task.error_kinds)
        all_records += records
    if bar is not None:
        bar.close()
    for size in sorted({record["size"] for record in all_records}):
        report["by_size"][str(size)] = summarise([r for r in all_records if r["size"] == size], task.error_kinds)
    return report


def quick_accuracy(model, task: Task, format: str, examples: list[Example]) -> float:
    """Answer accuracy alone, for progress reports during training."""
    written = decode_answers(model, task, examples, format)
    return float(np.mean([answer_of(text) == example.answer for example, text in zip(examples, written)]))


def format_report(report: dict) -> str:
    """The report as a table: one row per size, then one per split; accuracies in percent; one column per
    kind of mistake the task's checker names."""
    summaries = list(report["by_size"].values()) + list(report["splits"].values())
    error_kinds = list(summaries[0]["errors"]) if summaries else []
    headers = [report["size_name"], "problems", "answer %", "target %"] + error_kinds
    names = {"test": "in distribution", "ood": "out of distribution"}

    def row(label, summary):
        return [label, summary["n"], f"{100 * summary['answer_accuracy']:.1f}",
                f"{100 * summary['target_accuracy']:.1f}"] + [summary["errors"][k] for k in error_kinds]

    rows = [row(size, summary) for size, summary in report["by_size"].items()]
    rows += [row(names[split], summary) for split, summary in report["splits"].items()]
    return format_table(headers, rows)
