"""Programs: the trace really runs the program, the generator keeps its limits, the checker names the
first wrong entry, and nothing outside the grammar ever runs."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from conftest import assert_a_changed_digit_is_caught
from minipad.data import is_held_out, sample_examples, split_rng
from minipad.tasks import get_task
from minipad.tasks.base import CORRECT, MALFORMED, WRONG_COPY
from minipad.tasks.program import BOUND, WRONG_LINE, WRONG_VALUE, VERDICT_KINDS, draw_source
from minipad.tasks.tracer import parse_program, run_program

program = get_task("program")
seeds = st.integers(min_value=0, max_value=2**32 - 1)

COUNT_DOWN = "def f(a, b):\n  c = 0\n  while a > 0:\n    c += b\n    a -= 1\n  return c\noutput = f(2, 3)"
COUNT_DOWN_TARGET = """<scratch>
state: {}
line: def f(a, b):
state: {"f": "<callable_object f>"}
line: output = f(2, 3)
state: {"a": 2, "b": 3}
line:   c = 0
state: {"a": 2, "b": 3, "c": 0}
line:   while a > 0:
state: {"a": 2, "b": 3, "c": 0}
line:     c += b
state: {"a": 2, "b": 3, "c": 3}
line:     a -= 1
state: {"a": 1, "b": 3, "c": 3}
line:   while a > 0:
state: {"a": 1, "b": 3, "c": 3}
line:     c += b
state: {"a": 1, "b": 3, "c": 6}
line:     a -= 1
state: {"a": 0, "b": 3, "c": 6}
line:   while a > 0:
state: {"a": 0, "b": 3, "c": 6}
line:   return c
state: {"f": "<callable_object f>", "output": 6}
</scratch>
output: 6"""
IF_ELSE = "def f(a):\n  if a < 2:\n    a += 5\n  else:\n    a *= 3\n  return a\noutput = f(4)"


def python_output(source: str) -> int:
    """What Python computes, without minipad's tracer."""
    namespace = {"__builtins__": {}}
    exec(compile(source, "<test>", "exec"), namespace)
    return namespace["output"]


def generated(seed: int, split: str = "train", format: str = "scratchpad"):
    run = program.sample_problem(np.random.default_rng(seed), program.split_options(split, program.make_options()))
    return run, program.render(run, format)


def test_the_trace_of_a_loop_in_the_papers_format():
    example = program.render(program.parse_input(COUNT_DOWN), "scratchpad")
    assert example.input == COUNT_DOWN
    assert example.target == COUNT_DOWN_TARGET
    assert program.render(program.parse_input(COUNT_DOWN), "direct").target == "output: 6"
    assert example.size == 11   # the line entries: every line run, the loop unrolled


def test_an_if_else_runs_one_branch_and_else_is_never_a_line():
    run = program.parse_input(IF_ELSE)
    assert [step.line for step in run.steps] == ["def f(a):", "output = f(4)", "  if a < 2:", "    a *= 3",
                                                 "  return a"]
    assert run.output == 12 and run.final_state == {"f": "<callable_object f>", "output": 12}


@given(seeds, st.sampled_from(["train", "ood"]))
def test_every_generated_trace_passes_the_checker_and_ends_with_pythons_output(seed, split):
    run, example = generated(seed, split)
    assert parse_program(example.input) == example.input   # the generator writes the trace's layout
    output = python_output(example.input)
    assert example.answer == f"output: {output}" and example.target.endswith(f"\n</scratch>\noutput: {output}")
    assert example.target.split("\n")[-3] == "state: " + json.dumps({"f": "<callable_object f>", "output": output})
    assert program.check(example.input, example.target).kind == CORRECT
    direct = program.render(run, "direct")
    assert program.check(direct.input, direct.target, "direct").kind == CORRECT
    assert all(abs(value) <= BOUND for step in run.steps for value in step.state.values() if isinstance(value, int))
    low, high = (4, 16) if split == "train" else (17, 22)
    assert low <= example.size == len(run.steps) <= high


@given(seeds)
def test_generated_programs_stay_inside_the_generators_limits(seed):
    source = draw_source(np.random.default_rng(seed))
    lines = source.split("\n")
    assert lines[0].startswith("def f(a") and lines[-1].startswith("output = f(") and lines[-2].startswith("  return ")
    assert sum(line.lstrip().startswith("while ") for line in lines) <= 1
    assert sum(line.lstrip().startswith("if ") for line in lines) <= 1
    assert set("".join(lines[1:-1]).replace("return", "").replace("while", "").replace("if", "").replace(
        "else", "")) <= set("abc0123456789 =+-*<>!:")
    assert parse_program(source) == source


@given(seeds, st.integers(min_value=1, max_value=30))
def test_no_program_runs_past_the_step_limit(seed, limit):
    source = draw_source(np.random.default_rng(seed))
    try:
        full = run_program(source, value_limit=10**9)
    except ValueError:
        return   # it raises: the generator draws again
    if len(full.steps) <= limit:
        assert run_program(source, step_limit=limit, value_limit=10**9) == full
    else:
        with pytest.raises(ValueError, match=f"runs more than {limit} lines"):
            run_program(source, step_limit=limit, value_limit=10**9)


def test_endless_and_failing_programs_are_stopped_with_one_line():
    endless = "def f(a):\n  while a > 0:\n    a += 1\n  return a\noutput = f(1)"
    with pytest.raises(ValueError, match="runs more than 200 lines"):
        program.parse_input(endless)
    with pytest.raises(ValueError, match="raises NameError"):
        program.parse_input("def f(a):\n  return b\noutput = f(1)")
    with pytest.raises(ValueError, match="beyond"):
        program.parse_input("def f(a):\n  while a > 0:\n    a *= a\n  return a\noutput = f(2)")


@pytest.mark.parametrize("text, says", [
    ("def f(a):\n  return a + 1\noutput = f(1)", "'a + 1' is outside the program grammar"),
    ("import os\ndef f(a):\n  return a\noutput = f(1)", "one function"),
    ("def f(a):\n  return a.real\noutput = f(1)", "outside the program grammar"),
    ("def f(a):\n  a = g(1)\n  return a\noutput = f(1)", "outside the program grammar"),
    ("def f(a):\n  for i in a:\n    a += 1\n  return a\noutput = f(1)", "statements are"),
    ("def f(a):\n  if a:\n    a = 1\n  return a\noutput = f(1)", "one comparison"),
    ("def f(a):\n  a /= 2\n  return a\noutput = f(1)", "only +=, -= and *="),
    ("def f(a):\n  a = 'x'\n  return a\noutput = f(1)", "variable or a whole number"),
    ("def f(a):\n  a = True\n  return a\noutput = f(1)", "variable or a whole number"),
    ("def f(a):\n  return a\n  a = 1\noutput = f(1)", "ends with 'return'"),
    ("def f(a):\n  if a < 1:\n    return 2\n  return a\noutput = f(1)", "only as the function's last line"),
    ("def g(a):\n  return a\noutput = g(1)", "def f(a, b):"),
    ("def f(a=1):\n  return a\noutput = f(1)", "plain parameters"),
    ("def f(a):\n  return a\noutput = f(1, 2)", "f takes 1 arguments"),
    ("def f(a):\n  return a\nresult = f(1)", "output = f(...)"),
    ("def f(a):\n  __x = 1\n  return a\noutput = f(1)", "variable names"),
    ("def f(a):\n  while a > 0:\n    a -= 1\n  else:\n    a = 1\n  return a\noutput = f(1)", "else"),
    ("def f(a):\n  return a\noutput = f(a)", "whole number"),
    ("def f(a)\n  return a", "not Python"),
    ("", "one function"),
])
def test_programs_outside_the_grammar_are_refused_by_name(text, says):
    with pytest.raises(ValueError, match=None) as error:
        program.parse_input(text)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_a_program_in_another_layout_is_rewritten_in_the_traces():
    typed = "def f(x, y):\n    # add y to x, x times\n\n    while x>0:\n        y+=1;x-=1\n    return y\noutput=f(2,-1)"
    run = program.parse_input(typed)
    assert run.source == "def f(x, y):\n  while x > 0:\n    y += 1\n    x -= 1\n  return y\noutput = f(2, -1)"
    assert run.output == 1


@given(seeds)
def test_same_seed_same_programs_and_another_seed_others(seed):
    def draw(seed):
        rng = np.random.default_rng(seed)
        return [program.render(program.sample_problem(rng, program.make_options()), "scratchpad") for _ in range(3)]
    assert draw(seed) == draw(seed)
    assert draw(seed) != draw(seed + 1)


def test_no_test_program_is_a_training_program():
    train = sample_examples(program, "train", 1500, "direct", split_rng(0, "train"))
    test = sample_examples(program, "test", 150, "direct", split_rng(0, "test"))
    assert not {e.input for e in train} & {e.input for e in test}
    assert not any(is_held_out(program, program.parse_input(e.input)) for e in train[:150])
    assert all(is_held_out(program, program.parse_input(e.input)) for e in test)


# ------------------------------------------------------------------------------------------ the checker
def entries(target: str) -> list[str]:
    return target.split("\n")


def replace_entry(target: str, index: int, text: str) -> str:
    lines = entries(target)
    lines[index] = text
    return "\n".join(lines)


@given(seeds, st.data())
def test_one_changed_value_is_caught_at_its_state(seed, data):
    run, example = generated(seed)
    lines = entries(example.target)
    candidates = [(index, name) for index, line in enumerate(lines) if line.startswith("state: ")
                  for name, value in json.loads(line[len("state: "):]).items() if isinstance(value, int)]
    index, name = data.draw(st.sampled_from(candidates))
    state = json.loads(lines[index][len("state: "):])
    state[name] = data.draw(st.integers(-BOUND, BOUND).filter(lambda value: value != state[name]))
    verdict = program.check(example.input, replace_entry(example.target, index, "state: " + json.dumps(state)))
    assert (verdict.line, verdict.kind in (WRONG_VALUE, WRONG_COPY)) == (index + 1, True), verdict.describe()


@given(seeds, st.data())
def test_one_changed_line_is_caught_as_a_wrong_line(seed, data):
    run, example = generated(seed)
    lines = entries(example.target)
    index = data.draw(st.sampled_from([i for i, line in enumerate(lines) if line.startswith("line: ")]))
    other = data.draw(st.sampled_from([line for line in example.input.split("\n") if "line: " + line != lines[index]]))
    verdict = program.check(example.input, replace_entry(example.target, index, "line: " + other))
    assert (verdict.kind, verdict.line) == (WRONG_LINE, index + 1), verdict.describe()


@given(seeds, st.data())
def test_one_changed_state_is_caught_at_or_before_it(seed, data):
    run, example = generated(seed)
    lines = entries(example.target)
    states = [i for i, line in enumerate(lines) if line.startswith("state: ")]
    index = data.draw(st.sampled_from(states))
    other = data.draw(st.sampled_from([lines[i] for i in states if lines[i] != lines[index]]))
    verdict = program.check(example.input, replace_entry(example.target, index, other))
    assert verdict.kind != CORRECT and verdict.line <= index + 1, verdict.describe()


@given(seeds, st.data())
def test_one_changed_digit_anywhere_is_caught_at_or_before_its_line(seed, data):
    run, example = generated(seed)
    assert_a_changed_digit_is_caught(program, example, data)


def test_the_checker_names_the_kind_of_mistake():
    right = entries(COUNT_DOWN_TARGET)   # line 12 holds the state after 'c += b': c changed, a and b did not
    def check(index, text):
        return program.check(COUNT_DOWN, replace_entry(COUNT_DOWN_TARGET, index, text))
    assert right[11] == 'state: {"a": 2, "b": 3, "c": 3}'
    wrong_value = check(11, 'state: {"a": 2, "b": 3, "c": 4}')
    assert (wrong_value.kind, wrong_value.line, wrong_value.expected) == (WRONG_VALUE, 12, right[11])
    assert "c should be 3" in wrong_value.message
    assert check(11, 'state: {"a": 1, "b": 3, "c": 3}').kind == WRONG_COPY
    assert check(11, 'state: {"a": 2, "b": 3, "c": 3, "d": 0}').kind == WRONG_COPY
    assert check(11, 'state: {"a": 2, "b": 3}').kind == WRONG_VALUE
    assert check(11, 'state: {"b": 3, "a": 2, "c": 3}').kind == MALFORMED
    assert check(11, 'state: {"a": 2, "b": 3, "c": true}').kind == WRONG_VALUE
    assert check(11, 'state: {"a": 2, "b": 3, "c": 3').kind == MALFORMED
    assert check(11, 'line:     c += b').kind == MALFORMED
    assert check(12, 'line:   return c').kind == WRONG_LINE
    assert check(12, 'line:     c -= b').kind == WRONG_COPY
    assert program.check(COUNT_DOWN, COUNT_DOWN_TARGET.replace("output: 6", "output: 7")).kind == WRONG_COPY
    assert program.check(COUNT_DOWN, COUNT_DOWN_TARGET.replace("output: 6", "6")).kind == MALFORMED
    stopped_early = "\n".join(right[:10] + right[-3:])
    assert (program.check(COUNT_DOWN, stopped_early).kind, program.check(COUNT_DOWN, stopped_early).line) == (
        MALFORMED, 11)
    ran_on = "\n".join(right[:-3] + ['line:   return c', right[-3]] + right[-2:])
    assert program.check(COUNT_DOWN, ran_on).kind == MALFORMED
    assert program.check(COUNT_DOWN, "output: 6", "direct").kind == CORRECT
    assert program.check(COUNT_DOWN, "output: 5", "direct").kind == WRONG_VALUE
    assert program.check(COUNT_DOWN, "six", "direct").kind == MALFORMED
    assert program.check("def f(a):\n  return a + 1\noutput = f(1)", "output: 2", "direct").kind == MALFORMED


trace_like = st.lists(st.one_of(
    st.text(max_size=30), st.just("state: {}"), st.just("<scratch>"), st.just("</scratch>"),
    st.builds(lambda text: "state: " + text, st.text(max_size=30)),
    st.builds(lambda text: "line: " + text, st.text(max_size=20)),
    st.builds(lambda value: "state: " + json.dumps(value), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
        max_leaves=8)),
), max_size=30).map("\n".join)


@given(st.text(max_size=120), st.text(max_size=200) | trace_like, st.sampled_from(["direct", "scratchpad"]))
def test_the_checker_never_raises_on_any_text(input_text, target, format):
    assert program.check(input_text, target, format).kind in VERDICT_KINDS
    verdict = program.check(COUNT_DOWN, target, format)
    assert verdict.kind in VERDICT_KINDS
    assert verdict.correct == (target == (COUNT_DOWN_TARGET if format == "scratchpad" else "output: 6"))


@given(st.data())
def test_the_checker_never_raises_on_a_trace_with_any_entry_replaced(data):
    lines = entries(COUNT_DOWN_TARGET)
    index = data.draw(st.integers(0, len(lines) - 1))
    target = replace_entry(COUNT_DOWN_TARGET, index, data.draw(st.text(max_size=40) | trace_like))
    verdict = program.check(COUNT_DOWN, target)
    assert verdict.kind in VERDICT_KINDS
    assert verdict.correct == (target == COUNT_DOWN_TARGET)


# ---------------------------------------------------------------------------------------------- tokens
def test_the_longest_problem_bounds_the_token_lengths_of_drawn_programs():
    tokenizer = program.tokenizer()
    rng = np.random.default_rng(0)
    def length(example):
        return len(tokenizer.encode(example.input + "\n" + example.target))
    for split, n in (("train", 300), ("ood", 60)):
        options = program.split_options(split, program.make_options())
        runs = [program.sample_problem(rng, options) for _ in range(n)]
        for format in ("direct", "scratchpad"):
            bound = length(program.render(program.longest_problem(options), format))
            assert max(length(program.render(run, format)) for run in runs) <= bound


@given(seeds, st.sampled_from(["direct", "scratchpad"]))
def test_round_trip_through_the_tokenizer(seed, format):
    tokenizer = program.tokenizer()
    _, example = generated(seed, format=format)
    text = example.input + "\n" + example.target
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer.encode(text)) < len(text) / 2   # the structural strings are single tokens


def test_options_decide_the_lengths_and_the_out_of_distribution_split_runs_longer():
    options = program.make_options({"min_lines": 6, "max_lines": 9})
    rng = np.random.default_rng(0)
    assert {program.sample_problem(rng, options).steps.__len__() for _ in range(200)} == set(range(6, 10))
    beyond = program.ood_options(options)
    assert (beyond.min_lines, beyond.max_lines) == (10, 15)
    assert all(10 <= len(program.sample_problem(rng, beyond).steps) <= 15 for _ in range(20))
    for bad in ({"max_lines": 3}, {"min_lines": 9, "max_lines": 8}, {"max_lines": 37}):
        with pytest.raises(ValueError, match="--max-lines"):
            program.make_options(bad)
