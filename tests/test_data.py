"""Datasets: seeded, split without overlap, and batched with a loss mask on the target only."""
import numpy as np
import pytest

from minipad.data import is_held_out, make_batch, sample_examples, split_rng
from minipad.tasks import get_task

addition = get_task("addition")


def test_same_seed_same_data_and_another_seed_different_data():
    first = sample_examples(addition, "train", 50, "scratchpad", split_rng(0, "train"))
    again = sample_examples(addition, "train", 50, "scratchpad", split_rng(0, "train"))
    other = sample_examples(addition, "train", 50, "scratchpad", split_rng(1, "train"))
    assert first == again
    assert first != other


def test_no_test_problem_is_in_the_training_set():
    for task in (addition, get_task("polynomial")):
        train = sample_examples(task, "train", 5000, "direct", split_rng(0, "train"))
        test = sample_examples(task, "test", 1000, "direct", split_rng(0, "test"))
        assert not {e.input for e in train} & {e.input for e in test}
        assert all(not is_held_out(task, task.parse_input(e.input)) for e in train[:500])
        assert all(is_held_out(task, task.parse_input(e.input)) for e in test[:500])


def test_out_of_distribution_split_has_9_and_10_digit_operands():
    ood = sample_examples(addition, "ood", 200, "scratchpad", split_rng(0, "ood"))
    lengths = {len(str(n)) for e in ood for n in addition.parse_input(e.input)}
    assert lengths == {9, 10}
    train = sample_examples(addition, "train", 500, "direct", split_rng(0, "train"))
    assert max(e.size for e in train) == 8 and min(e.size for e in train) == 1


def test_the_out_of_distribution_split_follows_from_the_training_options():
    options = addition.make_options({"min_digits": 2, "max_digits": 3})
    ood = sample_examples(addition, "ood", 100, "direct", split_rng(0, "ood"), options)
    assert {len(str(n)) for e in ood for n in addition.parse_input(e.input)} == {4, 5}
    test = sample_examples(addition, "test", 100, "direct", split_rng(0, "test"), options)
    assert {len(str(n)) for e in test for n in addition.parse_input(e.input)} == {2, 3}
    with pytest.raises(ValueError, match="no out-of-distribution split"):
        sample_examples(get_task("polynomial"), "ood", 1, "direct", split_rng(0, "ood"))


def test_batch_counts_only_target_tokens():
    tokenizer = addition.tokenizer()
    examples = [addition.render((29, 57), "scratchpad"), addition.render((1, 2), "direct")]
    batch = make_batch(tokenizer, examples)
    assert batch.ids.shape == batch.targets.shape == batch.mask.shape
    for row, example in enumerate(examples):
        counted = batch.targets[row][batch.mask[row] == 1]
        assert tokenizer.decode(counted) == example.target
        assert counted[-1] == tokenizer.eos_id
        prompt_length = len(tokenizer.encode(example.input + "\n"))
        assert tokenizer.decode(batch.ids[row][:prompt_length]) == example.input + "\n"
        # next-token targets: targets are the ids shifted by one
        length = int((batch.ids[row] != tokenizer.pad_id).sum())
        assert np.array_equal(batch.targets[row][:length - 1], batch.ids[row][1:length])
    assert batch.mask[1].sum() == len(tokenizer.encode("3")) + 1
