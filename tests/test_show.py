"""The show command: each written token with the probability the model gave it, the verdict, attention maps
and an SVG that holds the same numbers; one-line errors for bad input."""
import os
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from conftest import assert_one_line_error, run_minipad
from minipad.checkpoint import load_model
from minipad.cli import main
from minipad.data import encode_example
from minipad.generate import generate
from minipad.plot import SHADES
from minipad.positions import SequenceLayout, batch_layout, decoding_layouts, needs_layout
from minipad.show import attention_of_line, percent, read_problem, shown, softmax64
from minipad.svg import number
from minipad.tasks import get_task
from minipad.tokenizer import EOS

SVG = "{http://www.w3.org/2000/svg}"
TINY = ["--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--batch-size", "8", "--warmup-steps", "2",
        "--max-steps", "12", "--eval-every", "6", "--eval-problems", "4", "--test-problems", "4",
        "--ood-problems", "0", "--workers", "1", "--no-progress"]
POLYNOMIAL = "Evaluate -7*x**2 + 7*x + 5 at x = 1"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny, barely trained models: an addition scratchpad one and a polynomial one."""
    folder = tmp_path_factory.mktemp("show")
    assert main(["train", *TINY, "--max-digits", "2", "--block-size", "48", "--out", str(folder / "addition")]) == 0
    assert main(["train", *TINY, "--task", "polynomial", "--block-size", "80", "--out",
                 str(folder / "polynomial")]) == 0
    return {"addition": folder / "addition" / "model.npz", "polynomial": folder / "polynomial" / "model.npz"}


@pytest.fixture(scope="module")
def addition_reading(checkpoints):
    model, config, _, _ = load_model(checkpoints["addition"])
    return model, read_problem(model, get_task(config.task), config.format, "29+57")


def forward_without_cache(model, task, input_text, ids):
    """The logits of a plain forward pass over ids, with the layout training would compute for them."""
    if not needs_layout(model.config):
        return model.forward(np.array([ids]))
    row = SequenceLayout(model.config, task.layout_reader(input_text, "scratchpad"), task.tokenizer().vocabulary)
    row.extend(ids)
    return model.forward(np.array([ids]), layout=batch_layout(model.config, [row], len(ids)))


def test_probabilities_are_those_of_a_plain_forward_pass_at_each_written_token(addition_reading):
    model, reading = addition_reading
    task = get_task("addition")
    tokenizer = task.tokenizer()
    example = task.render(task.parse_input("29+57"), "scratchpad")
    prompt = encode_example(tokenizer, example)[0][:encode_example(tokenizer, example)[1]]
    layouts = decoding_layouts(model.config, task, "scratchpad", tokenizer, [example])
    written_ids = generate(model, [prompt], model.config.block_size - len(prompt), stop_token=tokenizer.eos_id,
                           layouts=layouts)[0]
    assert reading.text == tokenizer.decode(written_ids)
    ids = prompt + written_ids + [tokenizer.eos_id]
    assert [token.text for token in reading.written] == [tokenizer.vocabulary[i] for i in ids[len(prompt):]][
        :len(reading.written)]
    for token in reading.written:
        # the distribution over the token at `position`, from the tokens before it alone (no cache, no later token)
        logits = forward_without_cache(model, task, example.input, ids[:token.position])[0, -1]
        expected = softmax64(logits)
        assert token.probability == pytest.approx(expected[tokenizer.token_to_id[token.text]], abs=1e-5)
        others = expected.copy()
        others[tokenizer.token_to_id[token.text]] = -1
        assert token.runner_up_probability == pytest.approx(others.max(), abs=1e-5)
    lines = reading.text.split("\n")
    for number_of_line, text in enumerate(lines, start=1):
        tokens = [t.text for t in reading.tokens_of_line(number_of_line) if t.text not in ("\n", EOS)]
        assert tokenizer.decode([tokenizer.token_to_id[t] for t in tokens]) == text


def test_attention_rows_are_the_queries_that_write_the_line(addition_reading):
    model, reading = addition_reading
    for line in range(1, reading.line_count + 1):
        tokens = reading.tokens_of_line(line)
        weights, first = attention_of_line(reading, line, 1, 0)
        assert first == 0 and weights.shape == (len(tokens), tokens[-1].position)
        for row, token in zip(weights, tokens):
            visible = token.position   # the query at position p-1 sees tokens 0..p-1
            assert row[:visible].sum() == pytest.approx(1.0, abs=1e-5)
            assert np.all(row[visible:] == 0)
    nearest, first = attention_of_line(reading, reading.line_count, 0, 1, max_columns=5)
    full, _ = attention_of_line(reading, reading.line_count, 0, 1)
    assert nearest.shape[1] == 5 and np.array_equal(nearest, full[:, first:])


def test_show_prints_every_token_under_its_probability(checkpoints, addition_reading, capsys):
    _, reading = addition_reading
    status, out, _ = run_minipad(capsys, "show", "--checkpoint", checkpoints["addition"], "29+57",
                                 "--low-confidence", "0.5")
    assert status == 0
    lines = out.split("\n")
    assert lines[1] == "2 9 + 5 7"
    for number_of_line in range(1, reading.line_count + 1):
        tokens = reading.tokens_of_line(number_of_line)
        row = next(index for index, text in enumerate(lines) if text.startswith(f"{number_of_line:>4}  "))
        assert lines[row][6:].split("    <--")[0].split() == [shown(token.text) for token in tokens]
        assert lines[row + 1].split() == [percent(token.probability, 0.5) for token in tokens]
    assert f"checker: {reading.verdict.describe()}" in lines
    assert f"answer: {'right' if reading.answer_right else 'wrong'} (the right answer is 8 6)" in lines
    # every token below the mark is listed with its runner-up
    unsure = [token for token in reading.written if token.probability < 0.5]
    assert sum(line.startswith("unsure: ") for line in lines) == min(5, len(unsure))


def test_the_low_confidence_mark(addition_reading):
    assert percent(0.999, 0.9) == "100" and percent(0.95, 0.9) == "95"
    assert percent(0.897, 0.9) == "89?"   # rounded down below the mark: never '90?'
    _, reading = addition_reading
    marked = [percent(token.probability, 1.0).endswith("?") for token in reading.written]
    assert marked == [token.probability < 1.0 for token in reading.written]


def test_attention_maps_shade_each_row_darkest_where_its_weight_is_largest(checkpoints, addition_reading, capsys):
    _, reading = addition_reading
    status, out, _ = run_minipad(capsys, "show", "--checkpoint", checkpoints["addition"], "29+57", "--attention",
                                 "--line", "2", "--layer", "1", "--head", "1")
    assert status == 0
    assert out.count("\nlayer ") == 1 and "layer 1, head 1" in out
    weights, _ = attention_of_line(reading, 2, 1, 1)
    rows = out.split("layer 1, head 1\n")[1].split("\n")
    map_rows = [line for line in rows[1:1 + len(weights)]]
    for map_row, row_weights in zip(map_rows, weights):
        shades = map_row[-len(row_weights):]
        levels = [SHADES.index(character) for character in shades]
        assert levels[int(row_weights.argmax())] == len(SHADES) - 1
    status, out, _ = run_minipad(capsys, "show", "--checkpoint", checkpoints["addition"], "29+57", "--attention")
    assert status == 0 and out.count("\nlayer ") == 2 * 2   # every layer and head of the tiny model


def test_show_works_for_another_task_and_refuses_its_problems(checkpoints, capsys):
    status, out, _ = run_minipad(capsys, "show", "--checkpoint", checkpoints["polynomial"], POLYNOMIAL, "--attention")
    assert status == 0
    assert out.split("\n")[1] == POLYNOMIAL and "answer: " in out and "layer 1, head 1" in out
    status, _, err = run_minipad(capsys, "show", "--checkpoint", checkpoints["polynomial"], "29+57")
    assert_one_line_error(status, err, "is not of the form")
    status, _, err = run_minipad(capsys, "show", "--checkpoint", checkpoints["addition"], POLYNOMIAL)
    assert_one_line_error(status, err, "not a sum")


def test_the_svg_holds_the_probabilities_and_the_attention_weights(checkpoints, addition_reading, tmp_path, capsys):
    _, reading = addition_reading
    path = tmp_path / "show.svg"
    status, out, _ = run_minipad(capsys, "show", "--checkpoint", checkpoints["addition"], "29+57", "--attention",
                                 "--line", "3", "--svg", path)
    assert status == 0 and f"saved {path}" in out
    root = ElementTree.parse(path).getroot()   # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    tokens = [g for g in root.iter(f"{SVG}g") if g.get("class") == "token"]
    assert [g.get("data-token") for g in tokens] == [token.text for token in reading.written]
    assert [g.get("data-probability") for g in tokens] == [number(token.probability) for token in reading.written]
    maps = [g for g in root.iter(f"{SVG}g") if g.get("data-layer") is not None]
    assert len(maps) == 2 * 2
    for group in maps:
        weights, _ = attention_of_line(reading, 3, int(group.get("data-layer")), int(group.get("data-head")))
        cells = [rect for rect in group.iter(f"{SVG}rect") if rect.get("class") == "cell"]
        assert len(cells) == weights.size
        for cell in cells:
            assert cell.get("data-weight") == number(weights[int(cell.get("data-row")), int(cell.get("data-column"))])


def test_bad_input_gets_one_line_and_writes_nothing(checkpoints, tmp_path, capsys):
    checkpoint = checkpoints["addition"]
    cases = [
        (["--checkpoint", tmp_path / "missing.npz", "29+57"], "missing.npz"),
        (["--checkpoint", checkpoint, "29+57", "--attention", "--line", "99"], "--line 99 does not exist"),
        (["--checkpoint", checkpoint, "29+57", "--layer", "2"], "--layer 2 does not exist"),
        (["--checkpoint", checkpoint, "29+57", "--head", "-1"], "at least 0"),
        (["--checkpoint", checkpoint, "29+57", "--low-confidence", "0"], "above 0"),
        (["--checkpoint", checkpoint, "9" * 30 + "+1"], "tokens but the model holds"),
        (["--checkpoint", checkpoint, "29+57", "--svg", tmp_path / "no" / "such" / "show.svg"], "does not exist"),
        (["--checkpoint", checkpoint, "29+57", "--svg", tmp_path / "model.npz"], "does not end in .svg"),
        (["--checkpoint", checkpoint, "29+57", "--svg", tmp_path], "is a folder"),
    ]
    for argv, says in cases:
        status, _, err = run_minipad(capsys, "show", *argv)
        assert_one_line_error(status, err, says)
    assert os.listdir(tmp_path) == []
