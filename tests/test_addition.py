"""Addition: the paper's format, the rule for unequal lengths, and the step checker."""
import numpy as np
from hypothesis import given, strategies as st

from conftest import assert_a_changed_digit_is_caught
from minipad.tasks import get_task
from minipad.tasks.addition import WRONG_CARRY
from minipad.tasks.base import CORRECT, MALFORMED, WRONG_COPY, WRONG_DIGIT, WRONG_TOTAL

addition = get_task("addition")

PAPER_FIGURE_2 = "<scratch>\n2 9 + 5 7 ,  C: 0\n2 + 5 , 6 C: 1\n, 8 6 C: 0\n0 8 6\n</scratch>\n8 6"

operands = st.integers(min_value=0, max_value=10**10 - 1)


def test_29_plus_57_equals_the_papers_figure_byte_for_byte():
    example = addition.render((29, 57), "scratchpad")
    assert example.input == "2 9 + 5 7"
    assert example.target == PAPER_FIGURE_2
    assert addition.render((29, 57), "direct").target == "8 6"


def test_unequal_lengths_leave_the_shorter_side_empty():
    target = addition.render((123, 45), "scratchpad").target
    assert target.split("\n")[1:6] == [
        "1 2 3 + 4 5 ,  C: 0", "1 2 + 4 , 8 C: 0", "1 +  , 6 8 C: 0", ", 1 6 8 C: 0", "0 1 6 8"]
    target = addition.render((5, 678), "scratchpad").target
    assert target.split("\n")[1:5] == ["5 + 6 7 8 ,  C: 0", " + 6 7 , 3 C: 1", " + 6 , 8 3 C: 0", ", 6 8 3 C: 0"]


def test_reader_comments_are_for_display_only():
    shown = addition.render((29, 57), "scratchpad", comments=True).target
    assert "2 + 5 , 6 C: 1  # added 9 + 7 = 6 carry 1" in shown.split("\n")
    assert "#" not in addition.render((29, 57), "scratchpad").target


@given(operands, operands)
def test_every_generated_scratchpad_passes_the_checker_and_sums_right(a, b):
    example = addition.render((a, b), "scratchpad")
    assert addition.check(example.input, example.target).kind == CORRECT
    assert int(example.answer.replace(" ", "")) == a + b
    assert example.target.endswith("\n" + example.answer)
    direct = addition.render((a, b), "direct")
    assert addition.check(direct.input, direct.target, "direct").kind == CORRECT


@given(operands, operands, st.data())
def test_changing_one_digit_is_caught_at_or_before_its_line(a, b, data):
    assert_a_changed_digit_is_caught(addition, addition.render((a, b), "scratchpad"), data)


def test_the_checker_names_the_kind_of_mistake():
    lines = PAPER_FIGURE_2.split("\n")

    def verdict_with(line_index, text):
        changed = list(lines)
        changed[line_index] = text
        return addition.check("2 9 + 5 7", "\n".join(changed))

    wrong_digit = verdict_with(2, "2 + 5 , 7 C: 1")
    assert (wrong_digit.kind, wrong_digit.line, wrong_digit.expected) == (WRONG_DIGIT, 3, "2 + 5 , 6 C: 1")
    assert wrong_digit.written == "2 + 5 , 7 C: 1"
    assert verdict_with(2, "2 + 5 , 6 C: 0").kind == WRONG_CARRY
    assert verdict_with(1, "2 8 + 5 7 ,  C: 0").kind == WRONG_COPY
    assert verdict_with(3, ", 8 7 C: 0").kind == WRONG_COPY        # the copied 6 became 7
    assert verdict_with(3, ", 9 6 C: 0").kind == WRONG_DIGIT
    assert verdict_with(4, "1 8 6").kind == WRONG_CARRY
    assert verdict_with(6, "8 7").kind == WRONG_TOTAL
    assert verdict_with(2, "2 + 5 ; 6 C: 1").kind == MALFORMED
    assert addition.check("2 9 + 5 7", PAPER_FIGURE_2.replace("</scratch>\n", "")).kind == MALFORMED
    assert addition.check("2 9 + 5 7", "<scratch>\n2 9 + 5 7 ,  C: 0\n</scratch>\n8 6").kind == MALFORMED
    extra = PAPER_FIGURE_2.replace("0 8 6\n", "0 8 6\n0 8 6\n")
    assert addition.check("2 9 + 5 7", extra).kind == MALFORMED


@given(st.text(max_size=80), st.text(max_size=200))
def test_the_checker_never_raises_on_any_text(input_text, target):
    verdict = addition.check(input_text, target)
    assert verdict.kind in ("correct", "wrong digit", "wrong carry", "wrong copy", "wrong total", "malformed")
    verdict = addition.check("2 9 + 5 7", "<scratch>\n" + target)
    assert verdict.kind != CORRECT or target.startswith(PAPER_FIGURE_2[len("<scratch>\n"):])
    assert isinstance(verdict.describe(), str)


def test_parse_input_accepts_compact_and_spaced_sums_and_refuses_others():
    assert addition.parse_input("29+57") == (29, 57)
    assert addition.parse_input("2 9 + 5 7") == (29, 57)
    for bad in ("29-57", "abc", "29+", "+57", "029+5", ""):
        try:
            addition.parse_input(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_operand_lengths_are_uniform():
    rng = np.random.default_rng(1)
    n = 16_000
    counts = np.zeros(9, dtype=int)
    for _ in range(n):
        a, b = addition.sample_problem(rng, addition.make_options({"min_digits": 1, "max_digits": 8}))
        counts[len(str(a))] += 1
        counts[len(str(b))] += 1
    expected = 2 * n / 8
    # each count is binomial: standard deviation about 59, so 5 standard deviations is 300
    assert counts[0] == 0
    assert np.all(np.abs(counts[1:] - expected) < 300), counts
    assert all(len(str(addition.sample_problem(rng, addition.make_options({"min_digits": 4, "max_digits": 4}))[0])) == 4 for _ in range(200))
