# %%
"""Lesson 6: Answering directly: a tiny model learns short sums first and fails long ones.

Goal: train the paper's baseline, a model that reads a sum and writes the answer at once, with no
intermediate steps; then measure its accuracy size by size (digits), inside the sizes it was
trained on and beyond them. It is trained twice: with the number of steps lesson 7 gives the
scratchpad model (the paper compares at equal steps), and four times as long (a direct step is cheap:
that takes at least the minutes of the scratchpad run), to see whether it was just undertrained.

Read first: minipad/train.py (the module docstring: fresh problems every step, checkpoints),
minipad/config.py (every setting, one comment each), minipad/evaluate.py.

Time: about 1.5 minutes (--quick: about 10 seconds) on a 2-core laptop.

What you should see: the loss falling in steps rather than smoothly; 1-digit sums solved first, then
2-digit sums; 3-digit sums, the longest it trained on, still mostly wrong even after four times the
steps; and 4- and 5-digit sums, which it never saw, all wrong.

Saves: runs/lessons/06_direct/ and runs/lessons/06_direct_long/ (model.npz, loss.csv, eval.json);
lesson 7 reuses the first.

Run:  python lessons/06_answering_directly.py [--quick] [--seed N] [--out runs/lessons]
"""
from _common import (Lesson, accuracy_by_size, addition_config, addition_report, nonzero, parse_args, recipe,
                     run, side_by_side, train_run)  # first: the path to minipad and single-threaded BLAS

from dataclasses import asdict

from minipad.tasks import get_task


# %%
def main():
    args = parse_args(__doc__, with_out=True)
    lesson = Lesson(6, "Answering directly")
    settings = recipe(args.quick)
    digits = settings["max_digits"]
    addition = get_task("addition")

    lesson.step("The task and the recipe")
    example = addition.render((478, 95), "direct")
    lesson.say(f"""
        The direct format asks for the answer straight away: the model reads '{example.input}' and a newline,
        and must write '{example.target}' and end-of-text. Every digit of the answer depends on a carry that
        may come from far to the right, and the model has a fixed number of layers to work it out.
    """)
    config = addition_config("direct", settings["steps"], args, "06_direct")
    print("  config: " + " ".join(f"{key}={value}" for key, value in asdict(config).items()))
    lesson.say(f"""
        Training draws {config.batch_size} fresh problems per step, each operand with 1 to {digits} digits,
        never a held-out one. The model is tiny ({config.n_layer} blocks, width {config.n_embd}) and starts
        from random weights: the paper fine-tunes pre-trained models of 2M to 137B parameters.
    """)

    lesson.step(f"Train for {config.max_steps} steps")
    model, seconds, steps, _ = train_run(config)
    lesson.check(steps == config.max_steps, f"the run finished its {config.max_steps} steps")

    lesson.step("Accuracy by size")
    lesson.say(f"""
        Now {settings['problems_per_size']} held-out sums of each size, both operands with exactly that
        many digits. The model decodes greedily until it writes end-of-text; a sum counts only if the whole
        answer is right. Sizes above {digits} were never seen in training. (There are only 100 one-digit
        sums and a tenth are held out, so the 1-digit row repeats a few problems.)
    """)
    report = addition_report(model, "direct", args, digits)
    print(side_by_side({f"{steps} steps": report}, beyond_from=digits + 1))

    lesson.step(f"Train four times as long: {settings['long_direct_steps']} steps")
    lesson.say("""
        Maybe it just needs more steps. A direct step is cheap (the target is a few tokens): four times the
        steps take at least as many minutes as lesson 7's scratchpad run (lesson 7 prints both).
    """)
    long_config = addition_config("direct", settings["long_direct_steps"], args, "06_direct_long")
    long_model, long_seconds, long_steps, _ = train_run(long_config)
    long_report = addition_report(long_model, "direct", args, digits)

    lesson.step("Both runs, side by side")
    print(side_by_side({f"{steps} steps": report, f"{long_steps} steps": long_report}, beyond_from=digits + 1))
    print(f"  training time: {seconds:.0f} s for {steps} steps, {long_seconds:.0f} s for {long_steps}")
    short, long = accuracy_by_size(report), accuracy_by_size(long_report)
    lesson.say("""
        Read the columns top to bottom: the model learns the short sums first and the long ones last, if at
        all. The longest sums it trained on are the hardest: their leftmost digit depends on a chain of
        carries through every column, to be worked out inside one forward pass. And sums longer than any it
        has seen are never right: a tiny model has no idea what to do with positions it never saw.
    """)
    if args.quick:
        lesson.check(long[1] >= short[1] - 0.2 and set(long) == set(settings["eval_digits"]),
                     "the longer run did not get worse at 1-digit sums, and every size was measured")
    else:
        lesson.check(long[1] >= 0.9, "after the long run, 1-digit sums are (almost) always right",
                     f"{100 * long[1]:.0f}%")
        lesson.check(long[digits] < long[1] - 0.2,
                     f"{digits}-digit sums, the longest trained on, stay well below 1-digit sums",
                     f"{100 * long[digits]:.0f}% against {100 * long[1]:.0f}%")
        lesson.check(long_report["splits"]["ood"]["answer_accuracy"] < 0.05,
                     "sums longer than any seen in training are (almost) never right")
    lesson.check(long_report["splits"]["test"]["answer_accuracy"] >= report["splits"]["test"]["answer_accuracy"] - 0.05,
                 "more steps did not hurt on the training sizes")
    errors = long_report["splits"]["test"]["errors"]
    print(f"  the checker's verdicts on the long run's mistakes (training sizes): {nonzero(errors)}")
    lesson.say("""
        The checker has little to say about a direct answer: it can only call the total wrong. Where
        inside the model the sum went wrong, nobody can read. Lesson 7 makes the model show its work.
    """)

    lesson.finish([
        "Give the long run 20,000 steps (python -m minipad train --format direct --max-digits 3 "
        "--max-steps 20000 --position rope --block-size 160 --ood-problems 0): do 3-digit sums ever get there?",
        "Train with --position learned instead of rope. What happens to sizes never seen in training?",
        "Train on 1-4 digits with the same steps: does the 3-digit accuracy go up or down?",
        "Look at loss.csv of the long run: find the steps where the loss drops suddenly, and compare them "
        "with the progress evaluations printed during training.",
    ])


# %%
if __name__ == "__main__":
    run(main)
