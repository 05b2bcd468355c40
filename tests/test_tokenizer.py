"""The tokenizer: one vocabulary, one token per digit, exact round trips."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minipad.tasks import get_task
from minipad.tokenizer import EOS_ID, PAD_ID, Tokenizer, VOCABULARY

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def test_vocabulary_is_fixed_and_has_no_duplicates():
    assert len(set(VOCABULARY)) == len(VOCABULARY)
    assert VOCABULARY[PAD_ID] == "<pad>" and VOCABULARY[EOS_ID] == "<eos>"
    assert Tokenizer(True).vocabulary == Tokenizer(False).vocabulary


def test_spaces_between_digits_cost_no_token():
    tokenizer = Tokenizer(spaced_digits=True)
    ids = tokenizer.encode("2 9 + 5 7")
    assert [tokenizer.vocabulary[i] for i in ids] == ["2", "9", " + ", "5", "7"]
    assert tokenizer.decode(ids) == "2 9 + 5 7"
    assert [tokenizer.vocabulary[i] for i in tokenizer.encode("<scratch>\n, 8 6 C: 0")] == [
        "<scratch>", "\n", ", ", "8", "6", " C: ", "0"]


def test_each_digit_is_one_token():
    tokenizer = Tokenizer()
    for digit in "0123456789":
        assert len(tokenizer.encode(digit)) == 1
    assert len(tokenizer.encode("-10*x**3")) == 5   # "-", "1", "0", "*x**", "3"


def test_unknown_characters_are_named():
    with pytest.raises(ValueError, match="'é'"):
        Tokenizer().encode("café")
    with pytest.raises(ValueError, match="separated by spaces"):
        Tokenizer(spaced_digits=True).encode("29 + 57")


@given(seeds, st.sampled_from(["direct", "scratchpad"]))
def test_round_trip_on_generated_addition(seed, fmt):
    task, tokenizer = get_task("addition"), Tokenizer(spaced_digits=True)
    rng = np.random.default_rng(seed)
    example = task.render(task.sample_problem(rng, min_digits=1, max_digits=12), fmt)
    text = example.input + "\n" + example.target
    assert tokenizer.decode(tokenizer.encode(text)) == text


@given(seeds, st.sampled_from(["direct", "scratchpad"]))
def test_round_trip_on_generated_polynomials(seed, fmt):
    task, tokenizer = get_task("polynomial"), Tokenizer(spaced_digits=False)
    example = task.render(task.sample_problem(np.random.default_rng(seed)), fmt)
    text = example.input + "\n" + example.target
    assert tokenizer.decode(tokenizer.encode(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"), max_size=60))
def test_round_trip_on_any_printable_text(text):
    tokenizer = Tokenizer()
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_padding_and_end_of_text_decode_to_nothing():
    tokenizer = Tokenizer()
    assert tokenizer.decode([PAD_ID] + tokenizer.encode("total: 5") + [EOS_ID, PAD_ID]) == "total: 5"
