"""What every lesson shares: the command line, printed steps, checks that set the exit status.

Lessons import this module before NumPy. It puts the repository root on sys.path, so
``python lessons/01_scratchpads_as_data.py`` works from any folder even without installing minipad, and it
asks the BLAS library for one thread unless the environment says otherwise: our matrices are small, and on
a 2-core machine that is shared, BLAS threads fighting over the cores make every product many times slower.
It also applies the allocator setting of minipad's entry point (minipad/malloc.py).

Each lesson is also a notebook: its ``# %%`` lines mark cells that Jupyter (with jupytext) and
VS Code open and run one by one; the last cell runs the lesson with its default settings. The models the
lessons train go to runs/lessons in the repository, whatever the current folder (``--out`` to change it).
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")   # must happen before NumPy is first imported

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from minipad.malloc import keep_freed_memory  # noqa: E402

keep_freed_memory()   # lessons train: keep freed memory for the next step (see minipad/malloc.py)

DEFAULT_OUT = os.path.join(REPO_ROOT, "runs", "lessons")
WIDTH = 100


def command_line() -> list[str]:
    """The lesson's arguments: sys.argv[1:], except in a notebook, where they belong to the Jupyter kernel's
    launcher ('-f kernel.json') and the lesson runs with its defaults."""
    launcher = os.path.basename(sys.argv[0]) if sys.argv else ""
    return [] if "kernel" in launcher else sys.argv[1:]


def run(main) -> None:
    """Run a lesson's main() with the command line's error handling, then exit with its status.

    A mistake (an output folder that cannot be written) is one line and exit status 2, Ctrl-C one line
    and 130, '| head' ends quietly: no traceback, as with ``python -m minipad`` (minipad/cli/guard.py). In a
    notebook the kernel goes on: the status is not turned into an exit.
    """
    from minipad.cli import run_guarded
    status = run_guarded(f"lessons/{os.path.basename(sys.argv[0])}", main)
    launcher = os.path.basename(sys.argv[0]) if sys.argv else ""
    if "kernel" not in launcher:
        sys.exit(status)


def parse_args(doc: str, with_out: bool = False, argv=None) -> argparse.Namespace:
    """--quick and --seed for every lesson; --out for the lessons that save a model."""
    from minipad.cli.arguments import OneLineParser, non_negative_int
    title = (doc or "").strip().split("\n")[0]
    parser = OneLineParser(description=title, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run of the same steps (seconds, not minutes)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the lesson's random generator (default: 0)")
    if with_out:
        parser.add_argument("--out", default=DEFAULT_OUT,
                            help=f"folder for the lesson's models and results (default: {DEFAULT_OUT})")
    return parser.parse_args(command_line() if argv is None else argv)


class Lesson:
    """Prints the lesson's steps, explanations and checks; ``finish`` sets the exit status.

        lesson = Lesson(1, "Scratchpads as data")
        lesson.step("One problem, two targets")
        lesson.say("...")
        lesson.check(condition, "what must hold")
        lesson.finish(exercises)
    """

    def __init__(self, number: int, title: str):
        self.number = number
        self.title = title
        self.passed = 0
        self.failed: list[str] = []
        self.steps = 0
        self.started = time.perf_counter()
        print("=" * WIDTH)
        print(f"Lesson {number}: {title}")
        print("=" * WIDTH)

    def step(self, title: str) -> None:
        self.steps += 1
        print(f"\n--- {self.steps}. {title} " + "-" * max(0, WIDTH - 8 - len(title) - len(str(self.steps))))

    def say(self, text: str) -> None:
        """A short explanation, dedented and wrapped to the page."""
        for paragraph in textwrap.dedent(text).strip().split("\n\n"):
            print(textwrap.fill(" ".join(paragraph.split()), WIDTH))
            print()

    def show(self, text: str, indent: int = 4) -> None:
        """Text exactly as it is (examples, tables), indented."""
        print(textwrap.indent(text, " " * indent))

    def check(self, condition, message: str, detail: str = "") -> bool:
        """Print 'check ... ok' or 'check ... FAILED' (with detail); failures make the exit status 1."""
        if condition:
            self.passed += 1
            print(f"  check ok:     {message}")
        else:
            self.failed.append(message)
            print(f"  check FAILED: {message}" + (f"  ({detail})" if detail else ""))
        return bool(condition)

    def finish(self, exercises: list[str]) -> None:
        """Print the exercises and the verdict; exit with status 1 if any check failed."""
        print("\n--- Try this " + "-" * (WIDTH - 13))
        for number, exercise in enumerate(exercises, start=1):
            print(textwrap.fill(" ".join(exercise.split()), WIDTH, initial_indent=f"{number}. ",
                                subsequent_indent="   "))
        seconds = time.perf_counter() - self.started
        print()
        if self.failed:
            print(f"lesson {self.number}: {len(self.failed)} of {self.passed + len(self.failed)} checks FAILED "
                  f"({seconds:.0f} s)")
            for message in self.failed:
                print(f"  - {message}")
            sys.exit(1)
        print(f"lesson {self.number}: all {self.passed} checks passed ({seconds:.0f} s)")


# ------------------------------------------------------------- training runs shared by lessons 6 to 10
# One recipe for the addition lessons, so that lesson 7 can compare with lesson 6's model and lessons 8 and
# 10 can read lesson 7's. Small on purpose: 1-3 digit sums train in a minute or two on a laptop; the
# paper's 1-8 digits take a model like this one about 3,000 steps before its accuracy even starts to rise.
# The model and optimiser of every run (lesson 9's too): 2 blocks, 4 heads, width 64, rotary positions,
# about 0.1M parameters, as minipad's defaults; but positions counted plainly (0, 1, 2, ...), as in the
# paper: lesson 11 shows what the table layout, minipad's default, changes.
MODEL_RECIPE = dict(n_layer=2, n_head=4, n_embd=64, block_size=160, position="rope", position_ids="plain", places=0,
                    roles=0, line_window=False, batch_size=32, lr=3e-3, min_lr=3e-4)
ADDITION_RECIPE = {
    "default": dict(max_digits=3, steps=2500, long_direct_steps=10000, warmup_steps=100, eval_digits=(1, 2, 3, 4, 5),
                    problems_per_size=400),
    "quick": dict(max_digits=2, steps=300, long_direct_steps=1200, warmup_steps=30, eval_digits=(1, 2, 3),
                  problems_per_size=50),
}


def recipe(quick: bool) -> dict:
    return ADDITION_RECIPE["quick" if quick else "default"]


def run_folder(out: str, name: str, quick: bool) -> str:
    """Where a lesson's run lives: runs/lessons/07_scratchpad, or .../07_scratchpad-quick for --quick."""
    return os.path.join(out, name + ("-quick" if quick else ""))


def addition_config(format: str, steps: int, args, name: str):
    """The TrainConfig of one addition run of the lessons."""
    from minipad.config import TrainConfig
    settings = recipe(args.quick)
    return TrainConfig(task="addition", format=format,
                       task_options={"min_digits": 1, "max_digits": settings["max_digits"]},
                       max_steps=steps, warmup_steps=settings["warmup_steps"], eval_every=max(1, steps // 5),
                       eval_problems=50 if args.quick else 100, test_problems=0, ood_problems=0,
                       seed=args.seed, out=run_folder(args.out, name, args.quick), **MODEL_RECIPE)


def _same_run(saved, wanted) -> bool:
    from dataclasses import asdict
    ignore = ("out", "workers")
    return ({k: v for k, v in asdict(saved).items() if k not in ignore}
            == {k: v for k, v in asdict(wanted).items() if k not in ignore})


def train_both_formats(lesson, make_config):
    """Train the direct and then the scratchpad model, make_config(format) giving each one's TrainConfig, and
    check that each finished its steps. Returns (models, seconds of training), both by format."""
    models, seconds = {}, {}
    for format in ("direct", "scratchpad"):
        lesson.step(f"Train the {format} model")
        config = make_config(format)
        models[format], seconds[format], steps, _ = train_run(config)
        lesson.check(steps == config.max_steps, f"the {format} run finished its {config.max_steps} steps")
    return models, seconds


def train_run(config, reuse: bool = False):
    """Train ``config`` (or, with reuse, load its finished model if one with the same settings exists).

    Returns (model, seconds of training, steps, reused). Training prints its progress and loss curve.
    """
    from minipad.checkpoint import load_model
    from minipad.train import checkpoint_path, train
    path = checkpoint_path(config)
    if reuse and os.path.exists(path):
        model, saved, _, meta = load_model(path)
        if _same_run(saved, config) and meta["step"] == config.max_steps:
            print(f"  reusing {path} ({meta['step']} steps, trained in {meta['train_seconds'] / 60:.1f} min)")
            return model, meta["train_seconds"], meta["step"], True
    def log(message=""):
        print(textwrap.indent(str(message), "  "))

    sizes = {"addition": f"sums of 1-{config.task_options.get('max_digits')} digits",
             "program": f"programs of at most {config.task_options.get('max_lines')} lines"}.get(config.task,
                                                                                          "polynomials")
    print(f"  training {config.task}, {config.format}: {config.max_steps} steps of {config.batch_size} {sizes}, "
          f"into {config.out}")
    train(config, force=True, log=log, progress=sys.stderr.isatty())
    model, _, _, meta = load_model(path)
    return model, meta["train_seconds"], meta["step"], False


def size_sets(task, format: str, sizes, n: int, seed: int) -> dict:
    """Held-out problems of each size (addition: both operands with exactly that many digits).

    The same problems for both formats: the problems come from the generator, the format only renders them.
    """
    from minipad.data import sample_examples, split_rng
    return {size: sample_examples(task, "test", n, format, split_rng(seed + 1000 + size, "test"),
                                  task.make_options({"min_digits": size, "max_digits": size}))
            for size in sizes}


def addition_report(model, format: str, args, train_digits: int) -> dict:
    """Accuracy by number of digits, split into the training sizes and the sizes beyond them."""
    from minipad.evaluate import evaluate
    from minipad.tasks import get_task
    settings = recipe(args.quick)
    task = get_task("addition")
    sets = size_sets(task, format, settings["eval_digits"], settings["problems_per_size"], args.seed)
    inside = [e for size, examples in sets.items() if size <= train_digits for e in examples]
    beyond = [e for size, examples in sets.items() if size > train_digits for e in examples]
    return evaluate(model, task, format, inside, beyond)


def accuracy_by_size(report: dict) -> dict:
    """{size (int): answer accuracy} of an evaluation report."""
    return {int(size): summary["answer_accuracy"] for size, summary in report["by_size"].items()}


def side_by_side(columns: dict, size_name: str = "digits", beyond_from: int | None = None,
                 split_names: dict | None = None) -> str:
    """One table of accuracies: a row per size, then the training sizes and the unseen ones together.

    columns: {column title: report} for answer accuracy, or {title: (report, "target_accuracy")} for the
    share of targets written entirely right (for a scratchpad: every step). Sizes from beyond_from on are
    marked unseen. split_names: labels of the summary rows, by default "training sizes" and "unseen sizes".
    """
    from minipad.table import format_table
    specs = [(value, "answer_accuracy") if isinstance(value, dict) else value for value in columns.values()]
    reports = [report for report, _ in specs]
    sizes = sorted({int(size) for report in reports for size in report["by_size"]})
    first = reports[0]

    def percent(summary, metric):
        return "-" if summary is None else f"{100 * summary[metric]:.1f}"

    rows = []
    for size in sizes:
        label = f"{size}" + (" (unseen)" if beyond_from is not None and size >= beyond_from else "")
        n = first["by_size"].get(str(size), {}).get("n", "")
        rows.append([label, n] + [percent(report["by_size"].get(str(size)), metric) for report, metric in specs])
    names = split_names or {"test": "training sizes", "ood": "unseen sizes"}
    for split in ("test", "ood"):
        if split in first["splits"]:
            rows.append([names[split], first["splits"][split]["n"]]
                        + [percent(report["splits"].get(split), metric) for report, metric in specs])
    return format_table([size_name, "problems"] + [f"{title} %" for title in columns], rows,
                        align=["<", ">"] + [">"] * len(columns))


def nonzero(counts: dict) -> dict:
    """The entries of a count dict that are not zero (the checker's error kinds, for printing)."""
    return {key: value for key, value in counts.items() if value}
