"""Evaluation: let the model write its answer to held-out problems and judge what it wrote.

For each problem the model reads the prompt (input and newline) and decodes greedily until it writes
end-of-text. Three things are measured:

  * answer accuracy: the last line it wrote equals the right answer (the paper's exact match);
  * target accuracy: everything it wrote equals the target (for a scratchpad, every step right too);
  * the checker's verdict on what it wrote: correct, or the kind of its first mistake.

Results are grouped by problem size (what ``Example.size`` counts, named by ``Task.size_name``: addition
counts the digits of the longer operand) and summed inside and outside the training distribution. The
error columns are the task's own verdict kinds.

A run is evaluated on held-out sets drawn from its seed, the same ones every time (evaluation_sets); the
eval command may ask for others, such as longer sums (ask_for_other_sets). decode_one lets a model work a
single problem, for sample and show.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from tqdm import tqdm

from .data import encode_example, prompt_text, sample_examples, split_rng
from .errors import UserError
from .generate import generate
from .table import format_table
from .tasks import Example, Task
from .positions import decoding_layouts
from .tasks.base import SCRATCH_OPEN, answer_of

PROGRESS_CHUNK = 2048   # problems decoded between two updates of the progress bar
SPLIT_NAMES = {"test": "in distribution", "ood": "out of distribution"}   # the rows of the tables


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


def decode_one(model, task: Task, format: str, example: Example) -> tuple[list[int], list[int]]:
    """(prompt ids, the ids the model writes after them) for one example, greedy with the key/value cache,
    for as long as the model holds; ValueError if its whole sequence could not fit."""
    tokenizer = task.tokenizer()
    sequence, prompt_length = encode_example(tokenizer, example)
    room = model.config.block_size - prompt_length
    if len(sequence) - prompt_length > room:
        raise ValueError(f"this problem needs {len(sequence)} tokens but the model holds "
                         f"{model.config.block_size}: choose a smaller one")
    layouts = decoding_layouts(model.config, task, format, tokenizer, [example])
    prompt = sequence[:prompt_length]
    return prompt, generate(model, [prompt], room, stop_token=tokenizer.eos_id, layouts=layouts)[0]


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


def evaluation_sets(config, task: Task, test_problems: int | None = None,
                    ood_problems: int | None = None) -> tuple[list[Example], list[Example]]:
    """(test, ood): a run's held-out sets, drawn from its seed (the same sets every time). test_problems of
    the training distribution, and ood_problems beyond it, shared among the task's out-of-distribution sets
    (addition: one per size); by default as many as the run's config says."""
    test_n = config.test_problems if test_problems is None else test_problems
    ood_n = config.ood_problems if ood_problems is None else ood_problems
    test = sample_examples(task, "test", test_n, config.format, split_rng(config.seed + 1, "test"),
                           config.options()) if test_n else []
    ood = []
    option_sets = task.ood_option_sets(config.options()) if ood_n else []
    rng = split_rng(config.seed, "ood")
    for drawn_with in option_sets:
        ood += sample_examples(task, "ood", ood_n // len(option_sets), config.format, rng, drawn_with=drawn_with)
    return test, ood


def run_evaluation(model, config, task: Task, test_problems: int | None = None, ood_problems: int | None = None,
                   progress: bool = False) -> dict:
    """Evaluate ``model`` on its run's held-out sets (evaluation_sets): the report of ``evaluate``."""
    test, ood = evaluation_sets(config, task, test_problems, ood_problems)
    return evaluate(model, task, config.format, test, ood, progress=progress)


def ask_for_other_sets(config, task: Task, task_options: dict, block_size: int, ood_problems: int | None) -> None:
    """Change a run's ``config`` to draw its evaluation sets with other task options (longer sums than it
    trained on, say), for a model that holds ``block_size`` tokens. A run saved without an
    out-of-distribution set gets 1,000 problems of one unless ``ood_problems`` says how many. UserError if
    the options are not the task's or the longest problems would not fit the model."""
    config.task_options = {**config.task_options, **task_options}
    config.block_size = block_size
    if ood_problems is None and not config.ood_problems:
        config.ood_problems = 1000
    try:
        option_sets = [config.split_options("train")]
        option_sets += task.ood_option_sets(config.options()) if config.ood_problems else []
    except ValueError as error:
        raise UserError(str(error)) from None
    for drawn_with in option_sets:
        needed = config.sequence_length(task, drawn_with)
        if needed > block_size:
            raise UserError(f"the longest of those problems take {needed} tokens but this model holds "
                            f"{block_size}: ask for shorter ones")
    config.validate()


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

    def row(label, summary):
        return [label, summary["n"], f"{100 * summary['answer_accuracy']:.1f}",
                f"{100 * summary['target_accuracy']:.1f}"] + [summary["errors"][k] for k in error_kinds]

    rows = [row(size, summary) for size, summary in report["by_size"].items()]
    rows += [row(SPLIT_NAMES[split], summary) for split, summary in report["splits"].items()]
    return format_table(headers, rows)


def format_comparison(reports: dict) -> str:
    """The reports of a direct and a scratchpad run side by side ({"direct": report, "scratchpad": report},
    each with its training budget): answer accuracy per size and per split, and the scratchpad's whole-target
    accuracy."""
    direct, scratch = reports["direct"], reports["scratchpad"]
    headers = [scratch["size_name"], "direct answer %", "scratchpad answer %", "scratchpad all steps %"]
    rows = []
    for size, summary in scratch["by_size"].items():
        other = direct["by_size"].get(size)
        rows.append([size, f"{100 * other['answer_accuracy']:.1f}" if other else "-",
                     f"{100 * summary['answer_accuracy']:.1f}", f"{100 * summary['target_accuracy']:.1f}"])
    for split, summary in scratch["splits"].items():
        other = direct["splits"].get(split)
        rows.append([SPLIT_NAMES[split], f"{100 * other['answer_accuracy']:.1f}" if other else "-",
                     f"{100 * summary['answer_accuracy']:.1f}", f"{100 * summary['target_accuracy']:.1f}"])
    budget = (f"direct: {direct['step']} steps, {direct['train_minutes']:.1f} min; "
              f"scratchpad: {scratch['step']} steps, {scratch['train_minutes']:.1f} min")
    return format_table(headers, rows) + "\n" + budget
