"""Batches drawn ahead in another process are the batches drawing here would give, and leave the run's
random generator exactly where drawing here would."""
import time

import numpy as np
import pytest

from minipad.config import TrainConfig
from minipad.prefetch import BatchPrefetcher
from minipad.tasks import get_task
from minipad.train import draw_batch


def model_config_of(config):
    return config.model_config(get_task(config.task).tokenizer().vocab_size)


def drawn_here(config, rng):
    task = get_task(config.task)
    return draw_batch(config, model_config_of(config), task, task.tokenizer(), rng, config.split_options("train"))


def assert_same_batch(received, expected):
    (batch, layout), (expected_batch, expected_layout) = received, expected
    for name in ("ids", "targets", "mask"):
        np.testing.assert_array_equal(getattr(batch, name), getattr(expected_batch, name))
        assert getattr(batch, name).dtype == getattr(expected_batch, name).dtype
    assert (layout is None) == (expected_layout is None)
    if layout is not None:
        for got, want in zip(layout, expected_layout):
            assert (got is None) == (want is None)
            if got is not None:
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("settings", [
    {},                                                                        # addition, the table's layout
    {"position_ids": "random"},                                                # positions drawn at random too
    {"position_ids": "plain", "places": 0, "roles": 0, "line_window": False},  # no layout at all
    {"task": "program", "batch_size": 4},
])
def test_prefetched_batches_and_generator_states_are_those_of_drawing_here(settings):
    config = TrainConfig(batch_size=settings.pop("batch_size", 8), **settings)
    here, there = np.random.default_rng(5), np.random.default_rng(5)
    here.integers(10, size=7), there.integers(10, size=7)  # a run part way through
    prefetcher = BatchPrefetcher(config, model_config_of(config), there)
    try:
        for _ in range(4):
            assert_same_batch(prefetcher.next(there), drawn_here(config, here))
            assert there.bit_generator.state == here.bit_generator.state
        assert prefetcher.process is not None  # every batch came from the prefetcher, none was drawn here
    finally:
        prefetcher.close()


def test_when_the_prefetcher_stops_the_batches_are_drawn_here_the_same(capfd):
    config = TrainConfig(batch_size=4)
    here, there = np.random.default_rng(1), np.random.default_rng(1)
    prefetcher = BatchPrefetcher(config, model_config_of(config), there)
    assert_same_batch(prefetcher.next(there), drawn_here(config, here))
    prefetcher.process.kill()
    prefetcher.process.wait()
    for _ in range(2):
        assert_same_batch(prefetcher.next(there), drawn_here(config, here))
        assert there.bit_generator.state == here.bit_generator.state
    assert "drawn here from now on" in capfd.readouterr().err
    prefetcher.close()


def test_closing_ends_the_prefetcher_while_it_waits_to_write():
    config = TrainConfig(batch_size=32)  # a batch larger than the pipe's buffer: it waits mid-write
    prefetcher = BatchPrefetcher(config, model_config_of(config), np.random.default_rng(0))
    process = prefetcher.process
    prefetcher.next(np.random.default_rng(0))
    time.sleep(0.3)
    started = time.monotonic()
    prefetcher.close()
    assert process.poll() is not None and time.monotonic() - started < 4


def test_a_batch_that_cannot_be_drawn_fails_in_the_training_process_with_its_own_error(capfd):
    config = TrainConfig(batch_size=4, task_options={"min_digits": 1, "max_digits": 2})
    config.task_options["max_digits"] = 0  # not a valid setting: drawing fails, there and here alike
    rng = np.random.default_rng(0)
    prefetcher = BatchPrefetcher(config, model_config_of(TrainConfig()), rng)
    with pytest.raises(ValueError):
        prefetcher.next(rng)
    prefetcher.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "stopped" not in err  # no noise: the error itself is what is raised
