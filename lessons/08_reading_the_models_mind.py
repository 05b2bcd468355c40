# %%
"""Lesson 8: Reading the model's mind: its scratchpads, the checker's verdicts, its attention.

Goal: a scratchpad is not only a better answer but a readable one. Let lesson 7's model write
scratchpads for sums of every size, let the checker name the first wrong step of each, read a few
mistakes line by line; then look inside: which tokens does the model attend to at the moment it
writes a new result digit? If it learned the method its targets show, the line above.

Read first: lesson 7; minipad/tasks/addition.py (check); minipad/model.py (forward(..., return_cache=True)
returns the attention weights); minipad/plot.py (heatmap).

Time: about 15 seconds with lesson 7's model in runs/lessons/07_scratchpad; without it, this lesson
trains that model first, as lesson 7 does (about 2.5 minutes). --quick: about 15 seconds.

What you should see: nearly every in-distribution scratchpad correct; on longer, unseen sums, the
first mistake on line 2, copying the input; and an attention head that, whenever a result digit is
written, looks at the line above, where that column's digits and carry are.

Run:  python lessons/08_reading_the_models_mind.py [--quick] [--seed N] [--out runs/lessons]
"""
from _common import (Lesson, addition_config, parse_args, recipe, run, size_sets,
                     train_run)  # first: the path to minipad and single-threaded BLAS

from collections import Counter

import numpy as np

from minipad.tasks.base import mark_lines
from minipad.data import prompt_text
from minipad.evaluate import decode_answers
from minipad.plot import heatmap
from minipad.table import format_table
from minipad.tasks import get_task

SHORT_NAMES = {"<scratch>": "<", "</scratch>": ">", " + ": "+", " , ": ",", ", ": ",", " C: ": "C", "\n": "|"}


# %%
def tag_tokens(tokens: list[str]) -> tuple[list, list]:
    """Label the tokens of 'a + b' plus its scratchpad with what they hold.

    Returns (tags, queries). tags[t] is ("a", i) or ("b", i) for a digit of an operand, i counted from the
    right (units = 0), wherever it stands (the input or a step line's remaining digits); ("carry", j) for the
    carry written on step line j; None otherwise. queries[j - 1] is the position that predicts step line j's
    new result digit (the ' , ' before it), for j = 1, 2, ...: the moment column j - 1 is added.
    """
    tags, queries = [None] * len(tokens), []
    lines, start = [], 0
    for position, token in enumerate(tokens + ["\n"]):
        if token == "\n":
            lines.append(range(start, position))
            start = position + 1
    step = -1  # the prompt line, then <scratch>, then step lines 0, 1, ...
    for number, line in enumerate(lines):
        parts = [tokens[p] for p in line]
        if number == 0 or (number >= 2 and " C: " in parts):
            if number >= 2:
                step += 1
            operand, digits = "a", []
            for position in line:
                token = tokens[position]
                if token.isdigit() and operand in "ab":
                    digits.append(position)
                elif token in (" + ", " , ", ", "):
                    _tag(tags, digits, operand, max(step, 0))
                    if token in (" , ", ", ") and step >= 1:
                        queries.append(position)
                    operand, digits = ("b" if token == " + " else "result"), []
                elif token == " C: ":
                    operand = "carry"
                elif operand == "carry" and token.isdigit():
                    tags[position] = ("carry", step)
            if number == 0:
                _tag(tags, digits, operand, 0)
    return tags, queries


# %%
def _tag(tags, positions, operand, dropped):
    """Tag an operand's remaining digits: the k-th of n has index n - 1 - k + dropped from the right."""
    if operand not in ("a", "b"):
        return
    for k, position in enumerate(positions):
        tags[position] = (operand, len(positions) - 1 - k + dropped)


# %%
def operands_from_tags(tokens: list[str], tags: list) -> tuple[int, int]:
    """a and b rebuilt from the labelled digits of the input line: a test of tag_tokens."""
    values = {"a": 0, "b": 0}
    for token, tag in zip(tokens[:tokens.index("\n")], tags):
        if tag is not None:
            values[tag[0]] += int(token) * 10 ** tag[1]
    return values["a"], values["b"]


ROLES = ("digits being added", "other operand digits", "' + '", "' , '", "result digits", "' C: '", "carry",
         "newline")


# %%
def role_in_line_above(token: str, tag, column: int) -> str:
    """What a token of the line above the query holds, seen from the query adding ``column``."""
    if tag in (("a", column), ("b", column)):
        return "digits being added"
    if tag is not None and tag[0] in "ab":
        return "other operand digits"
    if tag is not None and tag[0] == "carry":
        return "carry"
    names = {" + ": "' + '", " , ": "' , '", ", ": "' , '", " C: ": "' C: '", "\n": "newline"}
    return names.get(token, "result digits")


# %%
def line_numbers(tokens: list[str]) -> list[int]:
    """The line (0 = the input) of every token; a newline belongs to the line it ends."""
    numbers, line = [], 0
    for token in tokens:
        numbers.append(line)
        line += token == "\n"
    return numbers


# %%
def attention_on_line_above(model, tokenizer, examples):
    """For every layer and head, the mean attention weight that the query writing each result digit puts on
    the step line above it; the same for uniform attention; and, per head, the weight on each role there."""
    config = model.config
    mass = np.zeros((config.n_layer, config.n_head))
    by_role = np.zeros((config.n_layer, config.n_head, len(ROLES)))
    chance, count = 0.0, 0
    for example in examples:
        ids = tokenizer.encode(prompt_text(example) + example.target)
        tokens = [tokenizer.vocabulary[i] for i in ids]
        tags, queries = tag_tokens(tokens)
        lines = line_numbers(tokens)
        _, cache = model.forward(np.array([ids]), return_cache=True)
        for column, query in enumerate(queries):
            above = [p for p in range(query) if lines[p] == lines[query] - 1]
            roles = [ROLES.index(role_in_line_above(tokens[p], tags[p], column)) for p in above]
            for layer in range(config.n_layer):
                weights = cache["attention"][layer][0][:, query, above]  # (NH, tokens of the line above)
                mass[layer] += weights.sum(axis=-1)
                for role, column_weights in zip(roles, weights.T):
                    by_role[layer, :, role] += column_weights
            chance += len(above) / (query + 1)
            count += 1
    return mass / count, chance / count, by_role / count


# %%
def main():
    args = parse_args(__doc__, with_out=True)
    lesson = Lesson(8, "Reading the model's mind")
    settings = recipe(args.quick)
    digits = settings["max_digits"]
    addition = get_task("addition")
    tokenizer = addition.tokenizer()
    error_kinds = addition.error_kinds

    lesson.step("Lesson 7's scratchpad model")
    config = addition_config("scratchpad", settings["steps"], args, "07_scratchpad")
    model, _, steps, _ = train_run(config, reuse=True)

    lesson.step("Let it write, let the checker judge")
    lesson.say("""
        For each size, held-out sums; the model writes its scratchpad greedily, and the checker reads it
        line by line and names the first line that does not follow from the input and the line before.
    """)
    n = 100 if args.quick else 300
    sets = size_sets(addition, "scratchpad", settings["eval_digits"], n, args.seed)
    rows, written_by_size, verdicts_by_size = [], {}, {}
    for size, examples in sets.items():
        written = decode_answers(model, addition, examples)
        verdicts = [addition.check(e.input, text) for e, text in zip(examples, written)]
        written_by_size[size], verdicts_by_size[size] = written, verdicts
        kinds = Counter(v.kind for v in verdicts)
        wrong = [v for v in verdicts if not v.correct]
        on_line_2 = sum(v.line == 2 for v in wrong)
        rows.append([f"{size}" + (" (unseen)" if size > digits else ""), len(examples),
                     f"{100 * kinds['correct'] / len(examples):.1f}"] + [kinds[k] for k in error_kinds]
                    + [f"{100 * on_line_2 / len(wrong):.0f}" if wrong else "-"])
    print(format_table(["digits", "problems", "correct %"] + list(error_kinds) + ["of mistakes, on line 2 %"],
                       rows, align=["<"] + [">"] * (len(error_kinds) + 3)))
    unseen = [v for size, vs in verdicts_by_size.items() if size > digits for v in vs if not v.correct]
    early = sum(v.line == 2 for v in unseen)
    lesson.check(sum(len(vs) for vs in verdicts_by_size.values()) == sum(len(es) for es in sets.values()),
                 "the checker judged every scratchpad")
    if not args.quick:
        lesson.check(unseen and early >= 0.5 * len(unseen),
                     "on unseen sizes, most scratchpads go wrong on line 2, copying the input",
                     f"{early} of {len(unseen)}")
        seen = [v for size, vs in verdicts_by_size.items() if size <= digits for v in vs]
        lesson.check(sum(v.correct for v in seen) >= 0.8 * len(seen),
                     "on the training sizes, at least 80% of the scratchpads are right in every step")

    lesson.step("Mistakes, line by line")
    for size in (digits, digits + 1):
        if size not in sets:
            continue
        for example, text, verdict in zip(sets[size], written_by_size[size], verdicts_by_size[size]):
            if not verdict.correct:
                print(f"  a {size}-digit sum" + (" (longer than any in training)" if size > digits else "") + ":")
                lesson.show(prompt_text(example) + mark_lines(text, verdict))
                print(f"  checker: {verdict.describe()}\n")
                break
        else:
            print(f"  every {size}-digit scratchpad was right\n")
    lesson.say(f"""
        On an unseen size the model usually gets lost in the first line: it has only ever copied numbers of
        up to {digits} digits there, and drops or repeats a digit. Every later line is then computed from a
        wrong state. The direct model's mistakes (lesson 6) could only be called 'wrong total'.
    """)

    lesson.step("Where does it look when it writes a result digit?")
    lesson.say("""
        forward(ids, return_cache=True) returns every layer's attention weights, (B,NH,T,T). Feed correct
        scratchpads and take, for each step line, the query that predicts its new result digit (the ' , '
        just before it). If the model learned the method of its targets, it needs only the line above: the
        two digits to add and the carry. How much of each head's attention lands on that line?
    """)
    probe = [e for size in range(1, digits + 1) for e in sets[size][:20 if args.quick else 60]]
    mass, chance, by_role = attention_on_line_above(model, tokenizer, probe)
    rows = [[f"layer {layer}"] + [f"{mass[layer, head]:.2f}" for head in range(mass.shape[1])]
            for layer in range(mass.shape[0])]
    print(format_table([""] + [f"head {h}" for h in range(mass.shape[1])], rows))
    layer, head = np.unravel_index(mass.argmax(), mass.shape)
    print(f"  uniform attention would put {chance:.2f} there; layer {layer} head {head} puts {mass[layer, head]:.2f}, "
          f"{mass[layer, head] / chance:.1f} times as much")
    if not args.quick:
        lesson.check(mass[layer, head] >= 2 * chance,
                     "one head looks at the line above at least twice as much as uniform attention would")
    print(f"  what layer {layer} head {head} reads in the line above, as a share of its attention:")
    shares = by_role[layer, head]
    lesson.show(format_table(["token in the line above", "weight"],
                             [[role, f"{share:.2f}"] for role, share in sorted(zip(ROLES, shares), key=lambda r: -r[1])
                              if share >= 0.005]), indent=4)

    example = addition.render(addition.sample_problem(np.random.default_rng(args.seed),
                                                       addition.make_options({"min_digits": digits, "max_digits": digits})), "scratchpad")
    ids = tokenizer.encode(prompt_text(example) + example.target)
    tokens = [tokenizer.vocabulary[i] for i in ids]
    tags, queries = tag_tokens(tokens)
    a, b = addition.parse_input(example.input)
    lesson.check(len(queries) == len(str(max(a, b))) and operands_from_tags(tokens, tags) == (a, b),
                 "the lesson's token labels rebuild both operands and find one query per column")
    _, cache = model.forward(np.array([ids]), return_cache=True)
    weights = cache["attention"][layer][0, head][queries][:, :queries[-1] + 1]
    a_text, b_text = (str(x)[::-1] for x in addition.parse_input(example.input))
    labels = [f"adding column {c}: {a_text[c] if c < len(a_text) else ' '} + {b_text[c] if c < len(b_text) else ' '}"
              for c in range(len(queries))]
    lesson.say(f"""
        The same head on {example.input}: one row per column being added (units first), one character per
        token of the text so far ('|' ends a line, '<' is <scratch>, 'C' the carry's ' C: ').
    """)
    lesson.show(heatmap(weights, labels, [SHORT_NAMES.get(t, t) for t in tokens[:queries[-1] + 1]],
                        vmin=0.0, cell_width=1))
    if args.quick:
        print("  (--quick trains the model for a few seconds only: its patterns are still blurred)")
    lesson.say("""
        Each row lights up in the line just above it, around its end: the separators and the carry, the
        places where the last digits of a and b and the carry meet. No one told the model where a column
        is; the short, regular lines of the scratchpad made it easy to find. A caution: a weight shows
        where information is read from, not what is done with it. The first layer has already mixed each
        token with its neighbours, which is how a separator can carry the digit just before it.
    """)

    lesson.finish([
        "Do the same for the carry: which tokens does the query before each carry digit (' C: ') look at?",
        "Print the heatmap of every head of layer 0 at the line above's ' , ': which of them gather the "
        "digits just before it?",
        "Feed the model an unseen 4-digit sum's correct scratchpad (teacher forcing). Does the best head still "
        "look at the line above? Then why does the model fail to write that first line itself?",
        "Train with --position learned (lesson 7's exercise) and compare its heatmap with this one.",
    ])


# %%
if __name__ == "__main__":
    run(main)
