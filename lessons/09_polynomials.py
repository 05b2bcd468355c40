# %%
"""Lesson 9: Polynomials: direct against scratchpad on the paper's second task.

Goal: repeat lessons 6 and 7 on another kind of multi-step work, evaluating a polynomial of up to three
terms at an integer x, and use the scratchpad to find out which step the model still cannot do.

Read first: minipad/tasks/polynomial.py (the format and the bound on values); lessons 6 and 7.

Time: about a minute (--quick: about 10 seconds).

What you should see: the scratchpad model well ahead of the direct one at the same number of steps
(the paper's fine-tuned 8B model: direct 31.8%, scratchpad 50.7% after 2,000 steps); nearly every
one-term polynomial right; and, reading its scratchpads, almost every term's value right but the total
of two or three terms often wrong: the one step that its scratchpad does not write out.

Saves: runs/lessons/09_polynomial_direct/ and runs/lessons/09_polynomial_scratchpad/.

Run:  python lessons/09_polynomials.py [--quick] [--seed N] [--out runs/lessons]
"""
from _common import (MODEL_RECIPE, Lesson, accuracy_by_size, nonzero, parse_args, run_folder, side_by_side,
                     run, train_both_formats)  # first: the path to minipad and single-threaded BLAS

from collections import Counter

from minipad.config import TrainConfig
from minipad.data import sample_examples, split_rng
from minipad.evaluate import decode_answers, evaluate
from minipad.tasks import get_task
from minipad.tasks.polynomial import BOUND

STEPS = {"default": 2000, "quick": 200}   # the paper fine-tunes for 2,000 steps


# %%
def polynomial_config(format: str, args) -> TrainConfig:
    steps = STEPS["quick" if args.quick else "default"]
    return TrainConfig(task="polynomial", format=format, max_steps=steps, warmup_steps=min(100, steps // 5),
                       eval_every=max(1, steps // 4), eval_problems=50 if args.quick else 100, test_problems=0,
                       ood_problems=0, seed=args.seed,
                       out=run_folder(args.out, f"09_polynomial_{format}", args.quick), **MODEL_RECIPE)


# %%
def term_lines_right(task, examples, written):
    """Per power of x: (term lines written right, term lines) over the scratchpads; and, among scratchpads
    whose every term line is right, (how many have the right total, how many there are)."""
    by_power = {power: [0, 0] for power in range(4)}
    all_terms_right = [0, 0]
    for example, text in zip(examples, written):
        terms, _ = task.parse_input(example.input)
        expected = example.target.split("\n")[1:1 + len(terms)]
        lines = text.split("\n")[1:1 + len(terms)]
        right = [k < len(lines) and lines[k] == expected[k] for k in range(len(terms))]
        for (_, power), ok in zip(terms, right):
            by_power[power][0] += ok
            by_power[power][1] += 1
        if all(right):
            all_terms_right[1] += 1
            all_terms_right[0] += text.rsplit("\n", 1)[-1] == example.answer
    return by_power, all_terms_right


# %%
def main():
    args = parse_args(__doc__, with_out=True)
    lesson = Lesson(9, "Polynomials")
    polynomial = get_task("polynomial")

    lesson.step("The task")
    problem = (((-7, 2), (7, 1), (5, 0)), 1)   # the paper's example: -7*x**2 + 7*x + 5 at x = 1
    example = polynomial.render(problem, "scratchpad", comments=True)
    lesson.show(example.input + "\n" + example.target)
    print(f"  direct target: {polynomial.render(problem, 'direct').target}")
    lesson.say(f"""
        Up to three terms of distinct powers 0 to 3, coefficients from -10 to 10, x from -10 to 10; every
        term's value and the total stay within -{BOUND}..{BOUND}. The scratchpad writes one line per term
        with its value, then the total; the direct target is the total line alone. The same model and
        recipe as lessons 6 and 7, and {polynomial_config('direct', args).max_steps} steps for each format,
        as in the paper's fine-tuning.
    """)

    reports = {}
    models, seconds = train_both_formats(lesson, lambda format: polynomial_config(format, args))

    lesson.step("Direct against scratchpad, by number of terms")
    n = 200 if args.quick else 1000
    test = {format: sample_examples(polynomial, "test", n, format, split_rng(args.seed + 2000, "test"))
            for format in ("direct", "scratchpad")}
    for format in ("direct", "scratchpad"):
        reports[format] = evaluate(models[format], polynomial, format, test[format])
    print(side_by_side({"direct": reports["direct"], "scratchpad": reports["scratchpad"],
                        "scratchpad, every line right": (reports["scratchpad"], "target_accuracy")},
                       size_name="terms", split_names={"test": "all"}))
    print(f"  training time: direct {seconds['direct']:.0f} s, scratchpad {seconds['scratchpad']:.0f} s")
    direct_total = reports["direct"]["splits"]["test"]["answer_accuracy"]
    scratch_total = reports["scratchpad"]["splits"]["test"]["answer_accuracy"]
    print(f"  the paper, fine-tuned 8B model after 2,000 steps: direct 31.8%, scratchpad 50.7%; "
          f"here: direct {100 * direct_total:.1f}%, scratchpad {100 * scratch_total:.1f}%")
    if args.quick:
        lesson.check(set(accuracy_by_size(reports["scratchpad"])) == {1, 2, 3},
                     "both models were measured on polynomials of 1, 2 and 3 terms")
    else:
        lesson.check(scratch_total >= direct_total + 0.1, "the scratchpad model is ahead by 10 points or more",
                     f"{100 * scratch_total:.1f}% against {100 * direct_total:.1f}%")

    lesson.step("Which step fails? Read the scratchpads")
    lesson.say("""
        The checker names the first wrong line of each scratchpad. And since every term has its own line,
        we can also score the lines one by one: is the value of each term right, and when all of them are,
        is the total?
    """)
    errors = reports["scratchpad"]["splits"]["test"]["errors"]
    print(f"  the checker's first mistakes: {nonzero(errors)}")
    written = decode_answers(models["scratchpad"], polynomial, test["scratchpad"])
    by_power, all_right = term_lines_right(polynomial, test["scratchpad"], written)
    for power, (right, total) in by_power.items():
        name = {0: "constant", 1: "c*x", 2: "c*x**2", 3: "c*x**3"}[power]
        print(f"  term lines {name:<8} right: {right:>4} of {total:<4} ({100 * right / max(total, 1):.0f}%)")
    term_share = sum(r for r, _ in by_power.values()) / max(1, sum(t for _, t in by_power.values()))
    total_share = all_right[0] / max(1, all_right[1])
    multi = [(e, w) for e, w in zip(test["scratchpad"], written) if e.size > 1]
    multi_right_terms = term_lines_right(polynomial, [e for e, _ in multi], [w for _, w in multi])[1]
    print(f"  scratchpads with every term line right: {all_right[1]}; of those, total right: {all_right[0]} "
          f"({100 * total_share:.0f}%); with two or three terms: {multi_right_terms[0]} of {multi_right_terms[1]}")
    kinds = Counter(polynomial.check(e.input, w).kind for e, w in multi)
    if not args.quick:
        lesson.check(term_share >= 0.8, "at least 80% of the term lines are right",
                     f"{100 * term_share:.0f}%")
        lesson.check(kinds["wrong total"] >= 0.5 * (len(multi) - kinds["correct"]),
                     "with two or three terms, most scratchpads go wrong only at the total")
    lesson.say("""
        The scratchpad turned one hard step into easier ones, and the model learned those: multiplying a
        coefficient by a power of x, with values it has seen written many times. What is left is the last
        line, adding two or three signed numbers of up to four digits in one go, which is lesson 6's problem
        again. The remedy is the paper's idea once more: write that addition out as well (exercise 1).
    """)

    lesson.finish([
        "Write the total as running sums in the scratchpad ('after 2 terms: ...') by changing "
        "minipad/tasks/polynomial.py's render and check in a copy of the task, and train again: does the total "
        "improve?",
        "The direct model gets many one-term polynomials right but few longer ones. Which one-term problems "
        "does it get right: constants, x = 0 or 1, small values?",
        "Train both formats for 4,000 steps. Which one gains more?",
        "The direct model writes 'total: ...' at once. Group its accuracy by the size of the total: are small "
        "totals easier?",
    ])


# %%
if __name__ == "__main__":
    run(main)
