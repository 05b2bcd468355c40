"""Polynomials: the paper's format, the bound on values, and the checker."""
import numpy as np
from hypothesis import given, strategies as st

from conftest import assert_a_changed_digit_is_caught
from minipad.tasks import get_task
from minipad.tasks.base import CORRECT, MALFORMED, WRONG_COPY, WRONG_DIGIT, WRONG_TOTAL
from minipad.tasks.polynomial import BOUND, parse_polynomial, polynomial_text

polynomial = get_task("polynomial")
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def test_the_papers_example():
    example = polynomial.render((((-7, 2), (7, 1), (5, 0)), 1), "scratchpad")
    assert example.input == "Evaluate -7*x**2 + 7*x + 5 at x = 1"
    assert example.target == "<scratch>\n-7*x**2: -7\n7*x: 7\n5: 5\n</scratch>\ntotal: 5"
    assert polynomial.render((((-7, 2), (7, 1), (5, 0)), 1), "direct").target == "total: 5"


def test_negative_later_terms_are_joined_with_a_minus():
    terms = ((1, 2), (-3, 1))
    example = polynomial.render((terms, 2), "scratchpad")
    assert example.input == "Evaluate 1*x**2 - 3*x at x = 2"
    assert example.target.split("\n")[1:3] == ["1*x**2: 4", "-3*x: -6"]
    assert parse_polynomial(polynomial_text(terms)) == terms


@given(seeds)
def test_generated_problems_respect_the_rules_and_pass_the_checker(seed):
    rng = np.random.default_rng(seed)
    terms, x = polynomial.sample_problem(rng, polynomial.make_options())
    assert 1 <= len(terms) <= 3 and -10 <= x <= 10
    powers = [p for _, p in terms]
    assert powers == sorted(set(powers), reverse=True) and max(powers) <= 3
    assert all(c != 0 and -10 <= c <= 10 for c, _ in terms)
    values = [c * x ** p for c, p in terms]
    assert all(abs(v) <= BOUND for v in values) and abs(sum(values)) <= BOUND
    example = polynomial.render((terms, x), "scratchpad")
    assert polynomial.check(example.input, example.target).kind == CORRECT
    assert example.answer == f"total: {sum(values)}"
    assert polynomial.parse_input(example.input) == (terms, x)


@given(seeds, st.data())
def test_changing_one_digit_is_caught_at_or_before_its_line(seed, data):
    example = polynomial.render(polynomial.sample_problem(np.random.default_rng(seed), polynomial.make_options()), "scratchpad")
    assert_a_changed_digit_is_caught(polynomial, example, data)


def test_the_checker_names_the_kind_of_mistake():
    source = "Evaluate -7*x**2 + 7*x + 5 at x = 1"
    assert polynomial.check(source, "<scratch>\n-7*x**2: 7\n7*x: 7\n5: 5\n</scratch>\ntotal: 5").kind == WRONG_DIGIT
    assert polynomial.check(source, "<scratch>\n-7*x**3: -7\n7*x: 7\n5: 5\n</scratch>\ntotal: 5").kind == WRONG_COPY
    wrong_total = polynomial.check(source, "<scratch>\n-7*x**2: -7\n7*x: 7\n5: 5\n</scratch>\ntotal: 6")
    assert (wrong_total.kind, wrong_total.line, wrong_total.expected) == (WRONG_TOTAL, 6, "total: 5")
    assert polynomial.check(source, "<scratch>\n-7*x**2: -7\n7*x: 7\n</scratch>\ntotal: 0").kind == MALFORMED
    assert polynomial.check(source, "total: 5", "direct").kind == CORRECT
    assert polynomial.check(source, "total: 4", "direct").kind == WRONG_TOTAL


@given(st.text(max_size=80), st.text(max_size=200))
def test_the_checker_never_raises_on_any_text(input_text, target):
    assert polynomial.check(input_text, target).kind in (
        "correct", "wrong digit", "wrong carry", "wrong copy", "wrong total", "malformed")
    assert polynomial.check("Evaluate 2*x + 1 at x = 3", target).kind != CORRECT or target.endswith("total: 7")


def test_parse_input_refuses_what_the_task_never_writes():
    for bad in ("Evaluate 1*x**2 + 0 at x = 3", "Evaluate 1*x**4 at x = 2", "Evaluate 1*x + 2*x at x = 1",
                "Evaluate 1 + 1*x at x = 1", "Evaluate 1*x**3 + 1*x**2 + 1*x + 1 at x = 1", "Evaluate x at x = 1"):
        try:
            polynomial.parse_input(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
