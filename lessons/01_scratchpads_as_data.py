# %%
"""Lesson 1: Scratchpads as data.

Goal: see that a scratchpad is nothing but a longer training target. Generate addition examples in the
paper's two formats, read them token by token, see which tokens the loss counts, and let the checker
find mistakes planted in a scratchpad.

Read first: the paper (Nye et al. 2021, arXiv 2112.00114): its introduction and Figure 2; the README's
"The formats"; then minipad/tasks/addition.py (the module docstring), minipad/tokenizer.py and
minipad/data.py (make_batch).

Time: about a second (--quick: the same, with fewer samples). Nothing is trained.

What you should see: 29 + 57 written exactly as the paper's Figure 2; the scratchpad costing about
fifteen times the tokens of the direct answer; a loss mask that counts only what the model must write;
and the checker naming each planted mistake (wrong digit, wrong carry, wrong copy) at the right line.

Run:  python lessons/01_scratchpads_as_data.py [--quick] [--seed N]
"""
from _common import Lesson, parse_args, run  # first: the path to minipad and single-threaded BLAS

import numpy as np

from minipad.tasks.base import mark_lines
from minipad.data import is_held_out, make_batch, prompt_text, sample_examples, split_rng
from minipad.tasks import get_task

FIGURE_2 = """<scratch>
2 9 + 5 7 ,  C: 0
2 + 5 , 6 C: 1
, 8 6 C: 0
0 8 6
</scratch>
8 6"""


# %%
def plant(target: str, line_number: int, old: str, new: str) -> str:
    """The target with the first ``old`` on line ``line_number`` (1-based) replaced by ``new``."""
    lines = target.split("\n")
    assert old in lines[line_number - 1], (old, lines[line_number - 1])
    lines[line_number - 1] = lines[line_number - 1].replace(old, new, 1)
    return "\n".join(lines)


# %%
def change_one_digit(target: str, rng: np.random.Generator) -> str:
    """The target with one digit, chosen at random, replaced by another digit."""
    positions = [i for i, character in enumerate(target) if character.isdigit()]
    position = int(rng.choice(positions))
    new_digit = str((int(target[position]) + int(rng.integers(1, 10))) % 10)
    return target[:position] + new_digit + target[position + 1:]


# %%
def main():
    args = parse_args(__doc__)
    rng = np.random.default_rng(args.seed)
    lesson = Lesson(1, "Scratchpads as data")
    addition = get_task("addition")

    lesson.step("One problem, two targets")
    lesson.say("""
        A task turns a problem into an example: the input the model reads and the target it must write.
        The direct target is the answer alone. The scratchpad target writes the school method as a
        machine state, one line per column: the digits still to add, a comma, the result so far, the carry.
    """)
    direct = addition.render((29, 57), "direct")
    scratch = addition.render((29, 57), "scratchpad")
    print("input:            ", direct.input)
    print("direct target:    ", direct.target)
    print("scratchpad target:")
    lesson.show(scratch.target)
    lesson.check(scratch.target == FIGURE_2, "29 + 57 is written exactly as the paper's Figure 2")
    lesson.check(scratch.answer == direct.target == "8 6", "both formats end with the same answer")
    lesson.say("""
        The comments below are for you, never for the model: render(..., comments=True) adds them, and
        no training target ever holds them.
    """)
    lesson.show(addition.render((29, 57), "scratchpad", comments=True).target)

    lesson.step("Tokens: what the model actually reads")
    lesson.say("""
        Every digit is one token. The paper spaces its digits only so that its BPE tokenizer splits
        them; our tokenizer drops those spaces when encoding and puts them back when decoding. Repeated
        pieces such as ' + ' and ' C: ' are single tokens.
    """)
    tokenizer = addition.tokenizer()
    ids = tokenizer.encode(scratch.target)
    print("first scratchpad line as tokens:", [tokenizer.vocabulary[i] for i in tokenizer.encode(
        scratch.target.split("\n")[1])])
    lesson.check(tokenizer.decode(ids) == scratch.target, "decode(encode(target)) gives the text back exactly")
    examples = {format: sample_examples(addition, "train", 200 if args.quick else 2000, format,
                                        split_rng(args.seed, "train"))
                for format in ("direct", "scratchpad")}
    mean_tokens = {format: np.mean([len(tokenizer.encode(e.target)) + 1 for e in batch])
                   for format, batch in examples.items()}
    ratio = mean_tokens["scratchpad"] / mean_tokens["direct"]
    print(f"target tokens per example on 1-8 digit sums (with end-of-text): direct {mean_tokens['direct']:.1f}, "
          f"scratchpad {mean_tokens['scratchpad']:.1f}: {ratio:.1f} times as many")
    lesson.check(ratio > 4, "the scratchpad makes the model write several times more tokens")
    lesson.say("Three training examples, drawn the way training draws them (operands of 1 to 8 digits):")
    for example in examples["scratchpad"][:3]:
        lesson.show(prompt_text(example) + example.target + "\n")

    lesson.step("What the loss counts")
    lesson.say("""
        Training feeds input, newline, target and end-of-text as one sequence; position t predicts token
        t+1. The loss mask is 1 only where the next token belongs to the target (or is end-of-text): the
        model is never asked to predict the problem it was given.
    """)
    batch_examples = [direct, addition.render((7, 5), "direct")]
    batch = make_batch(tokenizer, batch_examples)
    print("row 0:   position  reads     must predict  counted")
    for t in range(batch.ids.shape[1]):
        name = tokenizer.vocabulary[batch.ids[0, t]]
        nxt = tokenizer.vocabulary[batch.targets[0, t]]
        print(f"        {t:>8}  {name!r:<9} {nxt!r:<13} {int(batch.mask[0, t])}")
    lesson.check(batch.mask[0].sum() == len(tokenizer.encode(direct.target)) + 1,
                 "row 0 counts exactly its target's tokens plus end-of-text")
    short_length = len(tokenizer.encode(prompt_text(batch_examples[1]) + batch_examples[1].target))
    lesson.check(batch.mask[1].sum() == 3 and (batch.ids[1, short_length:] == tokenizer.pad_id).all()
                 and batch.mask[1, short_length:].sum() == 0,
                 "row 1 (7 + 5 = 12) is shorter: it is padded, and the padding is not counted")

    lesson.step("Train and test never share a problem")
    lesson.say("""
        A hash of each problem's text puts one problem in ten on the held-out side, once and for all:
        training draws only from the other nine. So a test score can never be a memorised answer.
    """)
    train_problems = {e.input for e in examples["direct"]}
    test = sample_examples(addition, "test", 200 if args.quick else 1000, "direct", split_rng(args.seed, "test"))
    overlap = train_problems & {e.input for e in test}
    print(f"{len(train_problems)} training problems, {len(test)} test problems, shared: {len(overlap)}")
    lesson.check(not overlap and all(is_held_out(addition, addition.parse_input(e.input)) for e in test),
                 "no test problem can appear in training")

    lesson.step("The checker finds planted mistakes")
    lesson.say("""
        Because every step is text, a program can check it. task.check reads a target, recomputes each
        line from the input, and names the first line that does not follow. Below, a longer sum with three
        mistakes planted one at a time. Line numbers count the target's lines; line 1 is <scratch>.
    """)
    example = addition.render((4837, 596), "scratchpad")
    lesson.show(example.input + "\n" + example.target)
    plantings = [
        # (what we do, line, old text, new text, the verdict kind we expect)
        ("write 2 instead of 3 as the first result digit", 3, ", 3 C:", ", 2 C:", "wrong digit"),
        ("forget the carry of 3 + 9 + 1", 4, "C: 1", "C: 0", "wrong carry"),
        ("copy the remaining digits of 4837 wrong", 4, "4 8 +", "4 9 +", "wrong copy"),
    ]
    for what, line, old, new, kind in plantings:
        written = plant(example.target, line, old, new)
        verdict = addition.check(example.input, written)
        print(f"\nplanted: {what} (line {line})")
        lesson.show(mark_lines(written, verdict))
        print(f"  checker: {verdict.describe()}")
        lesson.check(verdict.kind == kind and verdict.line == line, f"the checker reports {kind} at line {line}",
                     f"got {verdict.kind} at line {verdict.line}")

    lesson.say("""
        Now at scale: change one digit, anywhere, in many random targets. The checker must accept every
        untouched target and reject every changed one.
    """)
    trials = examples["scratchpad"][:200 if args.quick else 2000]
    accepted = sum(addition.check(e.input, e.target).correct for e in trials)
    kinds = {}
    for e in trials:
        kind = addition.check(e.input, change_one_digit(e.target, rng)).kind
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"untouched targets accepted: {accepted}/{len(trials)}; verdicts on changed targets: {kinds}")
    lesson.check(accepted == len(trials), "every generated target is correct")
    lesson.check("correct" not in kinds, "every one-digit change is caught")

    lesson.step("The second task: polynomials")
    lesson.say("""
        The same idea for the paper's second task: one scratchpad line per term, then the total.
        Lesson 9 trains on it.
    """)
    polynomial = get_task("polynomial")
    problem = polynomial.sample_problem(rng, polynomial.make_options())
    poly = polynomial.render(problem, "scratchpad", comments=True)
    lesson.show(poly.input + "\n" + poly.target)
    plain = polynomial.render(problem, "scratchpad")
    first_term = plain.target.split("\n")[1]
    value = first_term.rsplit(": ", 1)[1]
    wrong = plant(plain.target, 2, ": " + value, ": " + str(int(value) + 1))
    verdict = polynomial.check(plain.input, wrong)
    print(f"planted a wrong value on line 2; checker: {verdict.describe()}")
    lesson.check(verdict.kind == "wrong digit" and verdict.line == 2, "the polynomial checker finds it too")

    lesson.finish([
        "Print python -m minipad data --format scratchpad -n 3 --comments and compare with what you saw.",
        "Render 999 + 1 and 5 + 12345 (operands of different digit counts): how does the shorter side run out?",
        "Plant a mistake in the final line (the carry followed by the result digits) and in the answer "
        "after </scratch>: which kinds does the checker report?",
        "Count tokens for 8-digit sums only: how does the scratchpad's length grow with the digits? "
        "(Lesson 7 shows what that costs in training time.)",
    ])


# %%
if __name__ == "__main__":
    run(main)
