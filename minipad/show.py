"""Let a trained model work one problem, and look inside while it does (the show command).

    python -m minipad show --checkpoint runs/addition-scratchpad/model.npz "29+57" [--attention] [--svg show.svg]

1. The model writes its target greedily, as ``sample`` does (minipad/generate.py, key/value cache).
2. One forward pass over the prompt and what it wrote gives, at every position t, the probabilities of
   the next token and every layer's attention weights (NH,T,T). The token at position t was chosen at
   position t-1, so
       probability(token t) = softmax(logits[t-1])[token t].
   Greedy decoding takes the most likely token; a probability well below 1 marks a place where the model
   hesitated, and the runner-up (the most likely other token) shows what else it considered.
3. The task's checker reads what was written and names the first wrong line.
4. --attention: for one line of the target, a map per layer and head, one row per token written on that
   line and one column per token before it. Row r shows the attention weights of the query at the
   position just before the row's token, the query whose output chose that token: which earlier tokens
   the model reads while writing it.

Nothing here knows which task it is: the task object parses the problem, renders the target and checks
what was written; lines are the target's lines, numbered from 1 as the checker numbers them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .evaluate import decode_one
from .positions import SequenceLayout, batch_layout, needs_layout
from .tasks.base import answer_of
from .tokenizer import EOS

MAX_COLUMNS = 100      # terminal heatmaps show at most this many tokens before the line, the nearest ones
MAX_SVG_WIDTH = 1000   # pixels: the SVG's heatmaps go on a new row rather than beyond this


@dataclass
class WrittenToken:
    """One token the model wrote, with the probability it gave it."""
    text: str                     # the token's text: "6", " C: ", "\n", or "<eos>" for end of text
    probability: float            # softmax of the logits at the position before it, at this token
    runner_up: str                # the most likely other token
    runner_up_probability: float
    position: int                 # its index in the whole sequence, the prompt's tokens first
    line: int                     # the target line it stands on, from 1 (a newline ends its own line)


@dataclass
class Reading:
    """What the model did on one problem, and what it looked at while doing it."""
    input: str                    # the problem as the model read it
    answer: str                   # the right answer
    sequence: list                # every token of the prompt and of what was written, as text
    written: list                 # WrittenToken for every token written, end of text included if written
    text: str                     # what was written, decoded
    verdict: object               # the task's Verdict on the text
    answer_right: bool
    attention: list               # per layer, (NH,T,T): row t holds the weights of the query at position t

    @property
    def line_count(self) -> int:
        return self.written[-1].line if self.written else 0

    def tokens_of_line(self, line: int) -> list:
        return [token for token in self.written if token.line == line]


def softmax64(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 so that probabilities near 1 keep their digits."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def layout_of(model, task, format: str, tokenizer, input_text: str, ids: list):
    """The TokenLayout of one whole sequence as decoding sees it (minipad/positions.py), or None when the
    model needs plain positions only. Places beyond the model's table are clamped, as generate does."""
    if not needs_layout(model.config):
        return None
    row = SequenceLayout(model.config, task.layout_reader(input_text, format), tokenizer.vocabulary)
    row.extend(ids)
    layout = batch_layout(model.config, [row], len(ids))
    if layout.places is not None:
        layout = layout._replace(places=np.minimum(layout.places, model.config.places - 1))
    return layout


def read_problem(model, task, format: str, problem_text: str) -> Reading:
    """Let ``model`` write its target for ``problem_text``; ValueError if it is not a problem of ``task``
    or does not fit the model."""
    example = task.render(task.parse_input(problem_text), format)
    tokenizer = task.tokenizer()
    prompt, written_ids = decode_one(model, task, format, example)
    ids, prompt_length = prompt + written_ids, len(prompt)
    layout = layout_of(model, task, format, tokenizer, example.input, ids)
    logits, cache = model.forward(np.array([ids]), return_cache=True, layout=layout)
    probabilities = softmax64(logits[0])  # (T,V): row t predicts token t+1
    chosen = list(written_ids)
    if int(probabilities[-1].argmax()) == tokenizer.eos_id:   # after its last token, it chose to stop
        chosen.append(tokenizer.eos_id)
    written, line = [], 1
    for index, token_id in enumerate(chosen):
        position = prompt_length + index
        row = probabilities[position - 1].copy()
        probability = float(row[token_id])
        row[token_id] = -1.0
        other = int(row.argmax())
        text = tokenizer.vocabulary[token_id]
        written.append(WrittenToken(text, probability, tokenizer.vocabulary[other], float(row[other]), position,
                                    line))
        line += text == "\n"
    text = tokenizer.decode(written_ids)
    return Reading(example.input, example.answer, [tokenizer.vocabulary[i] for i in ids], written, text,
                   task.check(example.input, text, format), answer_of(text) == example.answer,
                   [layer[0] for layer in cache["attention"]])


# ------------------------------------------------------------------------------------------ how tokens look
def shown(token: str) -> str:
    """A token as a cell shows it: a newline as ⏎, structural tokens without their spaces (' C: ' -> 'C:')."""
    if token == "\n":
        return "⏎"
    return token.strip() or "␣"


def glyph(token: str) -> str:
    """One character for a token, for heatmap columns: '|' ends a line, '<' and '>' open and close a block."""
    if token == "\n":
        return "|"
    text = token.strip()
    if len(text) <= 1:
        return text or "_"
    if text.startswith("</"):
        return ">"
    if text.startswith("<"):
        return "<"
    return next((character for character in text if character.isalnum()), text[0])


def percent(probability: float, low: float) -> str:
    """'100', '97', or '62?' for a token below the low-confidence mark (rounded down, so never '90?')."""
    if probability < low:
        return f"{math.floor(100 * probability)}?"
    return f"{round(100 * probability)}"


def choose_line(reading: Reading, line: int | None) -> int:
    """The line to look into: the one asked for; else the checker's first wrong line; else the line of the
    token written with the lowest probability (where the model hesitated most)."""
    count = reading.line_count
    if line is not None:
        if not 1 <= line <= count:
            raise UserError(f"--line {line} does not exist: the model wrote lines 1 to {count}")
        return line
    if count == 0:
        raise UserError("the model wrote nothing: there is no line to look into")
    if not reading.verdict.correct and reading.verdict.line is not None and 1 <= reading.verdict.line <= count:
        return reading.verdict.line
    return min(reading.written, key=lambda token: token.probability).line


def attention_of_line(reading: Reading, line: int, layer: int, head: int, max_columns: int | None = None):
    """(weights (R,C), first column): row r is the query writing the line's r-th token; columns are the
    tokens before the line's last token, the nearest ``max_columns`` of them if given."""
    queries = [token.position - 1 for token in reading.tokens_of_line(line)]
    end = queries[-1] + 1
    first = 0 if max_columns is None else max(0, end - max_columns)
    return reading.attention[layer][head][queries][:, first:end], first


# -------------------------------------------------------------------------------------------------- terminal
def format_written(reading: Reading, low: float) -> str:
    """Every line the model wrote, token by token, with each token's probability under it."""
    verdict = reading.verdict
    rows = [f"line  what the model wrote, one token at a time; under each token the probability it gave that "
            f"token, in % ('?': below {100 * low:g}%)"]
    for line in range(1, reading.line_count + 1):
        tokens = reading.tokens_of_line(line)
        cells = [shown(token.text) for token in tokens]
        figures = [percent(token.probability, low) for token in tokens]
        widths = [max(len(cell), len(figure)) for cell, figure in zip(cells, figures)]
        top = " ".join(cell.ljust(width) for cell, width in zip(cells, widths))
        wrong_here = not verdict.correct and verdict.line == line
        rows.append(f"{line:>4}  {top.rstrip()}" + (f"    <-- {verdict.kind}" if wrong_here else ""))
        rows.append("      " + " ".join(figure.ljust(width) for figure, width in zip(figures, widths)).rstrip())
        if wrong_here and verdict.expected is not None:
            rows.append(f"      expected: {verdict.expected}")
    if reading.written and reading.written[-1].text != EOS:
        rows.append("      (no end of text: the model filled its block size)")
    return "\n".join(rows)


def format_summary(reading: Reading, low: float) -> str:
    """The checker's verdict, the answer, and the tokens the model was least sure of."""
    lines = [f"checker: {reading.verdict.describe()}",
             f"answer: {'right' if reading.answer_right else 'wrong'} (the right answer is {reading.answer})"]
    unsure = sorted((token for token in reading.written if token.probability < low), key=lambda t: t.probability)
    if not reading.written:
        return "\n".join(lines)
    if not unsure:
        least = min(reading.written, key=lambda token: token.probability)
        lines.append(f"every token above {100 * low:g}%; the least sure: line {least.line}, {shown(least.text)!r} at "
                     f"{100 * least.probability:.1f}%")
    for token in unsure[:5]:
        lines.append(f"unsure: line {token.line}, {shown(token.text)!r} at {100 * token.probability:.1f}% "
                     f"(runner-up {shown(token.runner_up)!r} at {100 * token.runner_up_probability:.1f}%)")
    if len(unsure) > 5:
        lines.append(f"... and {len(unsure) - 5} more tokens below {100 * low:g}%")
    return "\n".join(lines)


def format_attention(reading: Reading, line: int, layers, heads) -> str:
    """One shaded heatmap per layer and head for ``line`` (see the module docstring)."""
    from .plot import heatmap   # the terminal's; svg_picture draws svg's
    tokens = reading.tokens_of_line(line)
    written = " ".join(shown(token.text) for token in tokens)
    parts = [f"attention while writing line {line} ({written}): a row per token written on that line, a column "
             f"per token before it; the darker, the more the query writing the row's token reads that column"]
    rows = [shown(token.text) for token in tokens]
    _, first = attention_of_line(reading, line, 0, 0, MAX_COLUMNS)
    end = tokens[-1].position
    columns = reading.sequence[first:end]
    named = sorted({(glyph(token), shown(token)) for token in columns if glyph(token) != shown(token)})
    if named:
        parts.append("columns: " + ", ".join(f"{g} = {s}" for g, s in named))
    for layer in layers:
        for head in heads:
            weights, _ = attention_of_line(reading, line, layer, head, MAX_COLUMNS)
            parts.append(f"\nlayer {layer}, head {head}")
            parts.append(heatmap(weights, rows, [glyph(token) for token in columns], vmin=0.0, cell_width=1))
            if first:
                full, _ = attention_of_line(reading, line, layer, head)
                parts.append(f"(the first {first} tokens are left out; they hold "
                             f"{100 * full[:, :first].sum(axis=1).mean():.1f}% of this head's attention)")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------------- SVG
def svg_picture(reading: Reading, heading: str, low: float, line: int | None, layers, heads) -> str:
    """The written tokens shaded by the model's confidence, the verdict, and (if line) the attention maps."""
    from .svg import MONOSPACE, document, heatmap, label, number, tag, title
    parts, top = [label(20, 28, heading, size=16, font_weight="bold"),
                  label(20, 52, f"problem: {reading.input}", size=13, font_family=MONOSPACE),
                  label(20, 72, f"each token the model wrote, shaded by how unsure it was (the probability it "
                                f"gave the token, in %); outlined: below {100 * low:g}%", size=11)], 84
    width = 600.0
    for number_of_line in range(1, reading.line_count + 1):
        x = 60.0
        parts.append(label(50, top + 22, str(number_of_line), size=11, anchor="end"))
        for token in reading.tokens_of_line(number_of_line):
            text = shown(token.text)
            box = max(30.0, 10.0 + 8.5 * len(text))
            unsure = token.probability < low
            tooltip = (f"line {token.line}: {text!r} with probability {100 * token.probability:.2f}%; "
                       f"runner-up {shown(token.runner_up)!r} at {100 * token.runner_up_probability:.2f}%")
            parts.append(tag("g", title(tooltip),
                             tag("rect", x=x, y=float(top), width=box - 3, height=34.0, rx=3.0, fill="#d62728",
                                 fill_opacity=f"{1 - token.probability:.3f}",
                                 stroke="#d62728" if unsure else "#cccccc", stroke_width=2.0 if unsure else 1.0),
                             label(x + (box - 3) / 2, top + 16, text, size=14, anchor="middle", font_family=MONOSPACE),
                             label(x + (box - 3) / 2, top + 30, percent(token.probability, low), size=9,
                                   anchor="middle"),
                             class_="token", data_line=token.line, data_token=token.text,
                             data_probability=number(token.probability)))
            x += box
        verdict = reading.verdict
        if not verdict.correct and verdict.line == number_of_line:
            note = f"← {verdict.kind}" + (f": expected {verdict.expected}" if verdict.expected else "")
            parts.append(label(x + 8, top + 22, note, size=12, fill="#d62728", font_weight="bold"))
            x += 16 + 7 * len(note)
        width = max(width, x + 20)
        top += 40
    top += 10
    checker = f"checker: {reading.verdict.describe()}"
    width = max(width, 40 + 7 * len(checker))
    parts.append(label(20, top + 10, checker, size=13))
    parts.append(label(20, top + 30, f"answer: {'right' if reading.answer_right else 'wrong'} (the right answer "
                                     f"is {reading.answer})", size=13))
    top += 50
    if line is not None:
        tokens = reading.tokens_of_line(line)
        explanation = (f"attention while writing line {line}: a row per token written on it, a column per token "
                       f"before it; darker = more weight")
        width = max(width, 40 + 7.5 * len(explanation))
        parts.append(label(20, top + 10, explanation, size=13, font_weight="bold"))
        top += 24
        rows = [shown(token.text) for token in tokens]
        columns = reading.sequence[:tokens[-1].position]
        x, tallest = 20.0, 0.0
        for layer in layers:
            for head in heads:
                weights, _ = attention_of_line(reading, line, layer, head)

                def describe(row, column, value, layer=layer, head=head):
                    return (f"layer {layer} head {head}: writing {rows[row]!r}, weight {value:.3f} on "
                            f"{shown(columns[column])!r} (token {column})")
                markup, map_width, map_height = heatmap(weights, rows, [shown(t) for t in columns], 0, 0,
                                                        f"layer {layer}, head {head}", cell=11, describe=describe)
                if x > 20 and x + map_width > MAX_SVG_WIDTH:   # no room left on this row: start the next one
                    x, top, tallest = 20.0, top + tallest + 12, 0.0
                parts.append(tag("g", markup, transform=f"translate({x:.0f} {top:.0f})", data_layer=layer,
                                 data_head=head))
                x += map_width + 16
                tallest = max(tallest, map_height)
                width = max(width, x)
        top += tallest + 12
    return document(width, top + 10, heading, parts)
