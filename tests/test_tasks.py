"""What every task promises (minipad/tasks/base.py), checked for each task in TASKS: a new task is tested here
as soon as it is registered."""
import dataclasses

import numpy as np
import pytest

import minipad.evaluate as evaluate_module
from minipad.config import TrainConfig, config_fields
from minipad.data import split_options
from minipad.evaluate import evaluate, format_report
from minipad.tasks import DEFAULT_TASK, FORMATS, TASKS, get_task
from minipad.tasks.base import CORRECT, MALFORMED, option_flag

tasks = pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))


def test_the_default_task_is_registered():
    assert DEFAULT_TASK in TASKS and TrainConfig().task == DEFAULT_TASK


@tasks
def test_a_task_says_what_it_is(task):
    assert TASKS[task.name] is task
    assert task.size_name and task.size_name != "size"
    assert CORRECT in task.verdict_kinds and MALFORMED in task.verdict_kinds
    assert len(set(task.verdict_kinds)) == len(task.verdict_kinds)
    assert CORRECT not in task.error_kinds and len(task.error_kinds) == len(task.verdict_kinds) - 1
    task.parse_input(task.example_input)


@tasks
def test_options_are_a_frozen_dataclass_with_help_and_names_of_their_own(task):
    assert dataclasses.is_dataclass(task.Options) and task.Options.__dataclass_params__.frozen
    for option_field in dataclasses.fields(task.Options):
        assert option_field.metadata.get("help"), f"{task.name}: {option_field.name} has no help"
    settings = {f.name for f in dataclasses.fields(TrainConfig)}
    assert not settings & set(task.option_names()), "a task option would hide a TrainConfig setting"
    task.make_options(task.quick_options)
    with pytest.raises(ValueError, match=f"the {task.name} task has no option --no-such-option"):
        task.make_options({"no_such_option": 1})


def test_an_option_of_another_task_is_refused_naming_the_options_this_one_takes():
    addition, polynomial = get_task("addition"), get_task("polynomial")
    with pytest.raises(ValueError, match=r"no option --max-digits \(its options: --max-terms\)"):
        polynomial.make_options({"max_digits": 3})
    assert option_flag("max_digits") in str(pytest.raises(ValueError, addition.make_options, {"max_terms": 1}).value)


@tasks
@pytest.mark.parametrize("format", FORMATS)
def test_what_a_task_renders_its_checker_accepts_and_its_tokenizer_round_trips(task, format):
    rng = np.random.default_rng(0)
    tokenizer = task.tokenizer()
    options = task.make_options()
    for split in ("train", "ood"):
        try:
            drawn_with = split_options(task, split, options)
        except ValueError:
            assert split == "ood" and task.ood_options(options) is None
            continue
        for _ in range(20):
            example = task.render(task.sample_problem(rng, drawn_with), format)
            assert isinstance(example.size, int)
            assert example.target.endswith(example.answer)
            assert task.check(example.input, example.target, format).correct
            text = example.input + "\n" + example.target
            assert tokenizer.decode(tokenizer.encode(text)) == text
        longest = task.render(task.longest_problem(drawn_with), format)
        tokenizer.encode(longest.input + "\n" + longest.target)


@tasks
def test_every_verdict_a_checker_returns_is_one_of_the_tasks_kinds(task):
    """The table has a column for each kind: a mistake of another kind would go uncounted."""
    rng = np.random.default_rng(1)
    characters = "0123456789 -+\n:,"
    for _ in range(300):
        example = task.render(task.sample_problem(rng, task.make_options()), "scratchpad")
        position = int(rng.integers(0, len(example.target)))
        changed = example.target[:position] + characters[rng.integers(len(characters))] + example.target[position + 1:]
        assert task.check(example.input, changed, "scratchpad").kind in task.verdict_kinds


@tasks
@pytest.mark.parametrize("format", ["scratchpad", "direct"])
def test_a_layout_reader_is_none_or_gives_every_token_a_spot(task, format):
    example = task.render(task.sample_problem(np.random.default_rng(2), task.make_options()), format)
    tokenizer = task.tokenizer()
    texts = [tokenizer.vocabulary[i] for i in tokenizer.encode(example.input + "\n" + example.target)]
    reader = task.layout_reader(example.input, format)
    if reader is None:
        return
    spots = reader.read_all(texts)
    assert len(spots) == len(texts)
    assert all(spot.place >= 0 and spot.line >= 0 and 0 <= spot.slot < reader.line_stride
               and 0 <= spot.role < reader.roles for spot in spots)


@tasks
def test_the_accuracy_table_has_the_tasks_size_and_verdict_columns(task, monkeypatch):
    """Columns come from the task: addition's 'wrong carry' is no column of another task's table."""
    monkeypatch.setattr(evaluate_module, "decode_answers", lambda model, task, examples, format=None, bar=None: [
        e.target if i % 2 else "nonsense" for i, e in enumerate(examples)])
    rng = np.random.default_rng(3)
    examples = [task.render(task.sample_problem(rng, task.make_options()), "scratchpad") for _ in range(10)]
    report = evaluate(None, task, "scratchpad", examples)
    header = format_report(report).split("\n")[0]
    assert header.split()[0] == task.size_name
    for kind in task.error_kinds:
        assert kind in header
    others = {kind for other in TASKS.values() for kind in other.error_kinds} - set(task.error_kinds)
    assert not any(kind in header for kind in others)
    assert report["splits"]["test"]["errors"][MALFORMED] == 5


def test_polynomial_tables_have_no_carry_column():
    assert "wrong carry" in get_task("addition").error_kinds
    assert "wrong carry" not in get_task("polynomial").error_kinds


def test_task_options_live_in_the_config_and_round_trip_through_a_saved_dict():
    config = TrainConfig(task="polynomial", task_options={"max_terms": 2})
    saved = dataclasses.asdict(config)
    assert saved["task_options"] == {"max_terms": 2}
    assert TrainConfig.from_saved(saved) == config
    assert TrainConfig(task="addition").task_options == {"min_digits": 1, "max_digits": 8, "longest_digits": 0,
                                                         "ood_digits": ""}
    assert "task_options" not in {f.name for f in config_fields()}


def test_a_saved_config_from_before_workers_keeps_its_thread_count_as_workers():
    saved = dataclasses.asdict(TrainConfig(workers=3))
    saved["threads"] = saved.pop("workers")
    assert TrainConfig.from_saved(saved) == TrainConfig(workers=3)
