# %%
"""Lesson 12: Running programs: the execution trace as a scratchpad.

Goal: the paper's third task. A model reads a small Python function and the line that calls it, and
either writes the output at once or first writes the execution trace: every line as it runs, loops
unrolled, with the variables after each one. Train both formats on the same programs for the same number
of steps, compare them by how many lines a program runs, and read the model's own traces with the checker,
which replays the program and names the first wrong line or value.

Read first: minipad/tasks/program.py (the grammar, the trace, the checker) and minipad/tasks/tracer.py
(the trace is made by running the program under sys.settrace); lessons 7 and 9.

Time: about 7 minutes on a 2-core laptop (--quick: under a minute).

What you should see: a trace taking about three times the tokens of the direct target; the checker
naming a changed value as a wrong value and a jump to another line as a wrong line; after training, the
scratchpad model ahead of the direct one (the paper's fine-tuned models: 41.5% against 20%), furthest
ahead on programs that run many lines; the checker's first mistake in each of its own traces, by kind;
and on programs that run longer than any it trained on, traces that go wrong.

Saves: runs/lessons/12_program_direct/ and runs/lessons/12_program_scratchpad/.

Run:  python lessons/12_running_programs.py [--quick] [--seed N] [--out runs/lessons]
"""
from _common import (MODEL_RECIPE, Lesson, nonzero, parse_args, run, run_folder, side_by_side,
                     train_both_formats)  # first: the path to minipad and single-threaded BLAS

import json
from statistics import median

import numpy as np

from minipad.config import TrainConfig
from minipad.data import encode_example, sample_examples, sample_problem, split_rng
from minipad.evaluate import decode_answers, evaluate
from minipad.tasks import get_task
from minipad.tasks.base import answer_of, mark_lines

# %%
# Training programs run at most max_lines lines (the task's default is 16: fewer keep the lesson's sequences
# short); the out-of-distribution set runs the next six sizes (lines run).
RECIPE = {
    "default": dict(max_lines=10, steps=2500, warmup_steps=200, test_problems=600, ood_problems=300),
    "quick": dict(max_lines=8, steps=100, warmup_steps=20, test_problems=40, ood_problems=20),
}


# %%
def program_config(format: str, args) -> TrainConfig:
    settings = RECIPE["quick" if args.quick else "default"]
    model = {**MODEL_RECIPE, "block_size": 512}
    return TrainConfig(task="program", format=format, task_options={"max_lines": settings["max_lines"]},
                       max_steps=settings["steps"], warmup_steps=settings["warmup_steps"],
                       eval_every=max(1, settings["steps"] // 4), eval_problems=50 if args.quick else 100,
                       test_problems=0, ood_problems=0, seed=args.seed,
                       out=run_folder(args.out, f"12_program_{format}", args.quick), **model)


# %%
def a_program_with_a_loop(task, options, seed: int):
    """Of 100 training programs of the seed, the first whose loop runs most often (to show a loop unrolled)."""
    rng = np.random.default_rng(seed)
    runs = [task.sample_problem(rng, options) for _ in range(100)]
    return max(runs, key=lambda run: sum(step.line.lstrip().startswith("while ") for step in run.steps))


# %%
def with_one_value_changed(target: str) -> tuple[str, int]:
    """The target with the first value that a line changed set one higher; and that line's number."""
    lines = target.split("\n")
    for index in range(3, len(lines)):
        if not (lines[index].startswith("state: {") and lines[index - 2].startswith("state: {")):
            continue
        before, after = json.loads(lines[index - 2][7:]), json.loads(lines[index][7:])
        changed = [name for name in after if name in before and after[name] != before[name]]
        if changed:
            after[changed[0]] += 1
            lines[index] = "state: " + json.dumps(after)
            return "\n".join(lines), index + 1
    raise ValueError("no line of this trace changes a value")


# %%
def main():
    args = parse_args(__doc__, with_out=True)
    lesson = Lesson(12, "Running programs")
    program = get_task("program")
    settings = RECIPE["quick" if args.quick else "default"]
    options = program.make_options({"max_lines": settings["max_lines"]})
    tokenizer = program.tokenizer()

    lesson.step("A program and its trace")
    run = a_program_with_a_loop(program, options, args.seed)
    example = program.render(run, "scratchpad", comments=True)
    lesson.show(example.input + "\n" + example.target)
    print(f"  direct target: {program.render(run, 'direct').target}")
    lesson.say(f"""
        The trace is made by running the program: Python calls minipad before every line and minipad writes
        down the line and the variables (the comments after 'if' and 'while' are for you; training targets
        never have them). Each 'state:' holds the variables just before the next line runs; the first two
        lines are the program's own (defining f, calling it), the last state is the program's again, after
        the call, holding 'output'. The generator writes two or three variables a, b, c, a few assignments,
        at most one if and one while loop; here every program runs at most {settings['max_lines']} lines.
    """)
    rng = split_rng(args.seed, "train")
    problems = [sample_problem(program, "train", rng, options) for _ in range(200)]
    lengths = {format: [len(encode_example(tokenizer, program.render(p, format))[0]) for p in problems]
               for format in ("direct", "scratchpad")}
    for format, values in lengths.items():
        print(f"  {format:<10} tokens per training sequence: min {min(values)}, median {median(values):.0f}, "
              f"max {max(values)}")
    plain = program.render(run, "scratchpad")
    lesson.check(program.check(plain.input, plain.target).correct, "the checker accepts the generated trace")
    lesson.check(median(lengths["scratchpad"]) >= 2.5 * median(lengths["direct"]),
                 "a trace costs two and a half times the tokens of the direct target or more")

    lesson.step("The checker replays the program")
    broken, line_number = with_one_value_changed(plain.target)
    verdict = program.check(plain.input, broken)
    lesson.show(mark_lines(broken, verdict))
    print(f"  checker: {verdict.describe()}")
    lesson.check(verdict.kind == "wrong value" and verdict.line == line_number,
                 "one changed value is a wrong value, named at its line")
    lines = plain.target.split("\n")
    jump = next(i for i in range(len(lines)) if lines[i].startswith("line:   "))
    other = next(line for line in plain.input.split("\n")[1:] if "line: " + line != lines[jump])
    verdict = program.check(plain.input, "\n".join(lines[:jump] + ["line: " + other] + lines[jump + 1:]))
    print(f"  and with line {jump + 1} replaced by another line of the program: {verdict.describe()}")
    lesson.check(verdict.kind == "wrong line", "a jump to another line of the program is a wrong line")
    lesson.say("""
        The checker does not compare texts blindly: it runs the program itself, step by step, and for the
        first entry that differs it says what kind of mistake it is. A 'line:' that is another line of the
        program means control went elsewhere (wrong line); a variable that the line changes, with the wrong
        value, is a wrong value; one that the line should have left alone but changed is a wrong copy.
    """)

    models, seconds = train_both_formats(lesson, lambda format: program_config(format, args))

    lesson.step("Direct against scratchpad, by lines run")
    test = {format: sample_examples(program, "test", settings["test_problems"], format,
                                    split_rng(args.seed + 2000, "test"), options)
            for format in ("direct", "scratchpad")}
    ood = {format: sample_examples(program, "ood", settings["ood_problems"], format,
                                   split_rng(args.seed + 2000, "ood"), options)
           for format in ("direct", "scratchpad")}
    reports = {format: evaluate(models[format], program, format, test[format], ood[format])
               for format in ("direct", "scratchpad")}
    print(side_by_side({"direct": reports["direct"], "scratchpad": reports["scratchpad"],
                        "scratchpad, every line right": (reports["scratchpad"], "target_accuracy")},
                       size_name="lines", beyond_from=settings["max_lines"] + 1,
                       split_names={"test": "training sizes", "ood": "longer runs"}))
    print(f"  training time: direct {seconds['direct']:.0f} s, scratchpad {seconds['scratchpad']:.0f} s "
          f"(same steps: a scratchpad step reads and writes several times the tokens)")
    direct_in = reports["direct"]["splits"]["test"]["answer_accuracy"]
    scratch_in = reports["scratchpad"]["splits"]["test"]["answer_accuracy"]
    print(f"  the paper's fine-tuned models on their synthetic programs: direct 20%, scratchpad 41.5%; here, on "
          f"programs of at most {settings['max_lines']} lines: direct {100 * direct_in:.1f}%, "
          f"scratchpad {100 * scratch_in:.1f}%")
    if args.quick:
        lesson.check(set(reports["scratchpad"]["splits"]) == {"test", "ood"},
                     "both models were measured inside and beyond the training sizes")
    else:
        lesson.check(scratch_in >= direct_in + 0.1, "the scratchpad model is ahead by 10 points or more",
                     f"{100 * scratch_in:.1f}% against {100 * direct_in:.1f}%")

    lesson.step("The model's own trace, and where it breaks")
    written = decode_answers(models["scratchpad"], program, test["scratchpad"])
    wrong = [(e, w) for e, w in zip(test["scratchpad"], written) if answer_of(w) != e.answer]
    shown, text = wrong[0] if wrong else (test["scratchpad"][0], written[0])
    verdict = program.check(shown.input, text)
    lesson.show(shown.input)
    lesson.show(mark_lines(text, verdict))
    print(f"  checker: {verdict.describe()}")
    print(f"  the right output: {shown.answer}")
    for split, name in (("test", "training sizes"), ("ood", "longer runs")):
        summary = reports["scratchpad"]["splits"][split]
        print(f"  first mistakes on {name}: {nonzero(summary['errors'])} of {summary['n']} traces")
    lesson.check(verdict.correct == (text == shown.target), "the checker's verdict agrees with the target")
    lesson.say("""
        Every mistake has an address: the line of the trace where it first goes wrong, and its kind. Read
        the counts above with the kinds in mind. A wrong copy early in a trace (a call's arguments, a line
        of the program written wrongly) is what a model that has trained only briefly gets wrong: it has
        not yet learned to copy. A wrong value is arithmetic done in one step (a two-digit sum, a product);
        a wrong line is a comparison read wrongly, so the trace goes into a branch or a loop it should have
        skipped, or leaves one too early. On programs that run longer than any in training, the trace
        reaches positions the model has never written at, as lesson 7's model did on longer sums.
    """)

    lesson.finish([
        "Train with python -m minipad compare --task program --max-minutes 15 (the task's default programs "
        "run up to 16 lines): how far does each format get in the same minutes?",
        "Which statements are hard? Group the scratchpad model's wrong values by the line that was run "
        "(+=, -=, *=, =) and its wrong lines by the comparison before them.",
        "The direct model gets the shortest programs right. Which ones: those that return a variable no line "
        "changes?",
        "Write the states without the variables that did not change (a shorter trace, not the paper's): "
        "change trace_lines and the checker in a copy of the task and train again. Is it faster to learn?",
    ])


# %%
if __name__ == "__main__":
    run(main)
