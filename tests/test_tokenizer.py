"""The tokenizer: each task's vocabulary, one token per digit, exact round trips."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minipad.tasks import TASKS, get_task
from minipad.tasks.base import ARITHMETIC_TOKENS
from minipad.tokenizer import EOS_ID, PAD_ID, Tokenizer

seeds = st.integers(min_value=0, max_value=2**32 - 1)

# The vocabulary every checkpoint of the arithmetic tasks was trained with, written out so that a change to
# it cannot pass unnoticed: a checkpoint stores its token list and loads only with the same one.
ARITHMETIC_VOCABULARY = (("<pad>", "<eos>", "<scratch>", "</scratch>", " + ", " - ", " , ", ", ", " C: ", ": ",
                          "total: ", "Evaluate ", " at x = ", "*x**", "*x")
                         + tuple(chr(code) for code in range(32, 127)) + ("\n",))


def arithmetic_tokenizer(spaced_digits=False):
    return Tokenizer(structural_tokens=ARITHMETIC_TOKENS, spaced_digits=spaced_digits)


def test_each_vocabulary_has_no_duplicates_and_the_arithmetic_one_is_unchanged():
    for task in TASKS.values():
        vocabulary = task.tokenizer().vocabulary
        assert len(set(vocabulary)) == len(vocabulary)
        assert vocabulary[PAD_ID] == "<pad>" and vocabulary[EOS_ID] == "<eos>"
    assert get_task("addition").tokenizer().vocabulary == ARITHMETIC_VOCABULARY
    assert get_task("polynomial").tokenizer().vocabulary == ARITHMETIC_VOCABULARY
    assert arithmetic_tokenizer(True).vocabulary == arithmetic_tokenizer(False).vocabulary


def test_structural_tokens_are_the_tokenizers_own():
    tokenizer = Tokenizer(structural_tokens=("<scratch>", "</scratch>", "line: "))
    assert [tokenizer.vocabulary[i] for i in tokenizer.encode("line: x + 1")] == [
        "line: ", "x", " ", "+", " ", "1"]
    with pytest.raises(ValueError, match="repeat"):
        Tokenizer(structural_tokens=("ab", "ab"))
    with pytest.raises(ValueError, match="two or more characters"):
        Tokenizer(structural_tokens=("a",))
    with pytest.raises(TypeError):
        Tokenizer(True)   # the structural tokens must be named: no tokenizer by accident


def test_spaces_between_digits_cost_no_token():
    tokenizer = arithmetic_tokenizer(spaced_digits=True)
    ids = tokenizer.encode("2 9 + 5 7")
    assert [tokenizer.vocabulary[i] for i in ids] == ["2", "9", " + ", "5", "7"]
    assert tokenizer.decode(ids) == "2 9 + 5 7"
    assert [tokenizer.vocabulary[i] for i in tokenizer.encode("<scratch>\n, 8 6 C: 0")] == [
        "<scratch>", "\n", ", ", "8", "6", " C: ", "0"]


def test_each_digit_is_one_token():
    tokenizer = arithmetic_tokenizer()
    for digit in "0123456789":
        assert len(tokenizer.encode(digit)) == 1
    assert len(tokenizer.encode("-10*x**3")) == 5   # "-", "1", "0", "*x**", "3"


def test_unknown_characters_are_named():
    with pytest.raises(ValueError, match="'é'"):
        arithmetic_tokenizer().encode("café")
    with pytest.raises(ValueError, match="separated by spaces"):
        arithmetic_tokenizer(spaced_digits=True).encode("29 + 57")


@given(seeds, st.sampled_from(["direct", "scratchpad"]))
def test_round_trip_on_generated_addition(seed, format):
    task = get_task("addition")
    tokenizer = task.tokenizer()
    rng = np.random.default_rng(seed)
    example = task.render(task.sample_problem(rng, task.make_options({"min_digits": 1, "max_digits": 12})), format)
    text = example.input + "\n" + example.target
    assert tokenizer.decode(tokenizer.encode(text)) == text


@given(seeds, st.sampled_from(["direct", "scratchpad"]))
def test_round_trip_on_generated_polynomials(seed, format):
    task = get_task("polynomial")
    tokenizer = task.tokenizer()
    example = task.render(task.sample_problem(np.random.default_rng(seed), task.make_options()), format)
    text = example.input + "\n" + example.target
    assert tokenizer.decode(tokenizer.encode(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"), max_size=60))
def test_round_trip_on_any_printable_text(text):
    tokenizer = arithmetic_tokenizer()
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_padding_and_end_of_text_decode_to_nothing():
    tokenizer = arithmetic_tokenizer()
    assert tokenizer.decode([PAD_ID] + tokenizer.encode("total: 5") + [EOS_ID, PAD_ID]) == "total: 5"
