"""Worker processes: their messages, their answers, and what happens when one stops or is interrupted."""
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minipad import workers
from minipad.model import GPT, GPTConfig, TokenLayout
from minipad.parallel import parallel_loss_and_grads, split_batch
from minipad.workers import SharedArea, WorkerError, read_message, worker_process, write_message

pytestmark = pytest.mark.usefixtures("workers_answer")  # no worker may fail unnoticed behind the fallback

DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.bool_, np.uint8])


@given(arrays=st.lists(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
                       max_size=4),
       header=st.dictionaries(st.text(max_size=5), st.integers() | st.floats(allow_nan=False) | st.none(),
                              max_size=3),
       transposed=st.booleans(), shared=st.booleans())
def test_a_message_comes_back_as_it_was_sent(arrays, header, transposed, shared):
    """Through the stream alone, or through a shared area that the reader maps on its own (as the worker
    process does, from the descriptor) and that grows when a message needs more room."""
    header.pop("arrays", None)  # the one key a message's header keeps for itself
    header.pop("area", None)
    named = {f"a{index}": array.T if transposed else array for index, array in enumerate(arrays)}
    writer = SharedArea.create() if shared and os.name == "posix" else None
    reader = None if writer is None else SharedArea(writer.descriptor)
    stream = io.BytesIO()

    def send_and_receive(header, arrays):  # one message at a time, as the processes take turns
        start = stream.tell()
        write_message(stream, header, arrays, writer)
        stream.seek(start)
        return read_message(stream, reader)

    assert send_and_receive({}, {"small": np.ones(3)})[1]["small"].tolist() == [1.0] * 3  # then the area grows
    received_header, received = send_and_receive(header, named)
    assert received_header == header
    assert list(received) == list(named)
    for name, array in named.items():
        assert received[name].dtype == array.dtype and received[name].shape == array.shape
        np.testing.assert_array_equal(received[name], array)
    assert send_and_receive({"next": 1}, {}) == ({"next": 1}, {})  # each message ended where it should
    assert read_message(stream, reader) is None  # the end of the stream


def test_a_message_cut_short_is_an_error():
    stream = io.BytesIO()
    write_message(stream, {}, {"x": np.arange(10.0)})
    cut = io.BytesIO(stream.getvalue()[:-8])
    with pytest.raises(EOFError, match="72 of 80 bytes"):
        read_message(cut)


def small_model(dtype="float32", **scheme):
    config = GPTConfig(vocab_size=13, n_layer=2, n_head=2, n_embd=8, block_size=16, dtype=dtype, **scheme)
    return GPT(config, np.random.default_rng(0))


def batch(rows=6, length=10, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 13, (rows, length))
    targets = rng.integers(0, 13, (rows, length))
    mask = rng.random((rows, length)) < 0.7
    return ids, targets, mask


@pytest.mark.parametrize("n_workers", [2, 3])
def test_workers_answer_exactly_what_this_process_computes(n_workers):
    """Bit for bit in float32: each part, computed in a worker, equals the same part computed here, and the
    parts are summed in a fixed order, so the result does not depend on where the parts ran."""
    model = small_model(position="rope", places=5, roles=3, line_window=True, position_ids="coupled")
    ids, targets, mask = batch()
    rng = np.random.default_rng(2)
    layout = TokenLayout(positions=rng.integers(0, 40, ids.shape), places=rng.integers(0, 5, ids.shape),
                         lines=np.sort(rng.integers(0, 4, ids.shape), axis=1), roles=rng.integers(0, 3, ids.shape))
    count = float(mask.astype(np.float32).sum())
    expected_loss, expected = None, None
    for rows in split_batch(len(ids), n_workers):  # the parts, here, in order
        part_layout = TokenLayout(*(a[rows] for a in layout[:4]))
        part_loss, part_grads = model.loss_and_grads(ids[rows], targets[rows], mask[rows], count, part_layout)
        if expected is None:
            expected_loss, expected = part_loss, part_grads
        else:
            expected_loss += part_loss
            for name in expected:
                expected[name] += part_grads[name]
    loss, grads = parallel_loss_and_grads(model, ids, targets, mask, n_workers, layout, packed=False)
    assert loss == expected_loss
    for name in expected:
        assert grads[name].dtype == np.float32
        np.testing.assert_array_equal(grads[name], expected[name], err_msg=name)


def test_a_worker_follows_the_model_it_is_given():
    """New parameters, another config, another dtype: the worker always computes with what it is sent."""
    ids, targets, mask = batch()
    for model in [small_model(), small_model("float64"), small_model(position="rope"), small_model()]:
        for array in model.params.values():
            array += np.random.default_rng(len(array)).standard_normal(array.shape).astype(array.dtype) * 0.1
        expected_loss, expected = model.loss_and_grads(ids, targets, mask)
        loss, grads = parallel_loss_and_grads(model, ids, targets, mask, 2, packed=False)
        assert loss == pytest.approx(expected_loss, rel=1e-5)
        for name in expected:
            assert grads[name].dtype == model.dtype
            np.testing.assert_allclose(grads[name], expected[name], rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.worker_failures
def test_a_worker_that_stopped_is_replaced_and_one_that_stops_mid_step_is_an_error():
    model = small_model()
    ids, targets, mask = batch()
    expected_loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)
    worker = worker_process(0)
    worker.process.kill()
    worker.process.wait()
    loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)  # a new worker takes its place
    assert loss == expected_loss
    assert worker_process(0) is not worker

    worker = worker_process(0)
    worker.submit(model, ids, targets, mask, 1.0, None)
    worker.process.kill()
    with pytest.raises(WorkerError, match="a worker process stopped before answering"):
        worker.result()
    loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)
    assert loss == expected_loss


@pytest.mark.worker_failures
def test_a_failure_inside_a_worker_is_raised_here_with_its_traceback():
    model = small_model()
    ids, targets, mask = batch()
    worker = worker_process(0)
    worker.submit(model, ids, targets[:, :3], mask, 1.0, None)  # targets of the wrong shape
    with pytest.raises(WorkerError, match="(?s)a worker process failed:.*Traceback.*targets"):
        worker.result()
    loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)  # and it goes on serving
    assert loss == pytest.approx(model.loss_and_grads(ids, targets, mask)[0], rel=1e-5)


def test_an_abandoned_answer_never_reaches_the_next_step():
    """A step given up halfway (an exception here while a worker computes) leaves its answer unread: the
    next step must not take that stale answer for its own."""
    model = small_model()
    ids, targets, mask = batch()
    worker = worker_process(0)
    worker.submit(model, ids[:1], targets[:1], mask[:1], 1.0, None)  # never collected
    loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)
    assert loss == pytest.approx(model.loss_and_grads(ids, targets, mask)[0], rel=1e-5)


def test_a_worker_ignores_ctrl_c_and_keeps_serving():
    model = small_model()
    ids, targets, mask = batch()
    expected_loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)
    worker = worker_process(0)
    worker.process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    assert worker.alive()
    loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)
    assert loss == expected_loss and worker_process(0) is worker


CHILD = """
import numpy as np
from minipad.model import GPT, GPTConfig
from minipad.parallel import parallel_loss_and_grads
from minipad.workers import worker_process
model = GPT(GPTConfig(vocab_size=13, n_layer=1, n_head=2, n_embd=8, block_size=16), np.random.default_rng(0))
ids = np.ones((4, 6), dtype=int)
parallel_loss_and_grads(model, ids, ids, np.ones((4, 6)), 2)
print(worker_process(0).process.pid, flush=True)
{ending}
"""


def _gone(pid, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":  # ended, waiting for its parent
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to see the worker process")
@pytest.mark.parametrize("ending", ["pass", "import time; time.sleep(60)"])
def test_a_worker_ends_with_the_program_that_started_it(ending):
    """However the program ends (normally, or killed outright), its worker processes do not outlive it."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(ending=ending)], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=workers.PACKAGE_PARENT))
    worker_pid = int(child.stdout.readline())
    if ending != "pass":
        child.kill()
    child.wait(timeout=30)
    child.stdout.close()
    assert _gone(worker_pid), "the worker process outlived the program that started it"


@pytest.mark.worker_failures
def test_a_worker_dying_mid_step_costs_only_time(capsys):
    """Its part is computed here instead (the same numbers), and the next step has a new worker."""
    model = small_model()
    ids, targets, mask = batch()
    expected_loss, expected = parallel_loss_and_grads(model, ids, targets, mask, 2)
    real_submit = workers.WorkerProcess.submit

    def submit_then_die(self, *arguments):
        real_submit(self, *arguments)
        self.process.kill()

    workers.WorkerProcess.submit = submit_then_die
    try:
        loss, grads = parallel_loss_and_grads(model, ids, targets, mask, 2)
    finally:
        workers.WorkerProcess.submit = real_submit
    assert "its part of the step was computed here" in capsys.readouterr().err
    assert loss == expected_loss
    for name in expected:
        np.testing.assert_array_equal(grads[name], expected[name])
    assert parallel_loss_and_grads(model, ids, targets, mask, 2)[0] == expected_loss


def test_steps_asked_for_from_two_threads_at_once_are_each_right():
    from concurrent.futures import ThreadPoolExecutor
    models = [small_model(), small_model(position="rope")]
    ids, targets, mask = batch()
    expected = [parallel_loss_and_grads(model, ids, targets, mask, 2)[0] for model in models]
    with ThreadPoolExecutor(2) as pool:
        losses = list(pool.map(lambda index: parallel_loss_and_grads(models[index % 2], ids, targets, mask, 2)[0],
                               range(40)))
    assert losses == [expected[index % 2] for index in range(40)]


def test_a_message_that_finds_no_room_in_the_area_goes_down_the_pipe(monkeypatch):
    if os.name != "posix":
        pytest.skip("shared areas are POSIX only")
    writer = SharedArea.create()
    reader = SharedArea(writer.descriptor)

    def full(*arguments, **keywords):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_map", full)
    stream = io.BytesIO()
    write_message(stream, {"n": 1}, {"x": np.arange(1000.0)}, writer)
    stream.seek(0)
    header, arrays = read_message(stream, reader)
    assert header == {"n": 1}
    np.testing.assert_array_equal(arrays["x"], np.arange(1000.0))


def test_a_worker_runs_the_minipad_this_process_runs_whatever_the_current_folder_holds(tmp_path, monkeypatch,
                                                                                        capfd):
    impostor = tmp_path / "minipad"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("raise ImportError('the minipad of the current folder was imported')\n")
    monkeypatch.chdir(tmp_path)
    workers.close_workers()  # the next step starts its worker here
    model = small_model()
    ids, targets, mask = batch()
    loss, _ = parallel_loss_and_grads(model, ids, targets, mask, 2)
    assert loss == pytest.approx(model.loss_and_grads(ids, targets, mask)[0], rel=1e-5)
    workers.close_workers()
    assert "current folder" not in capfd.readouterr().err  # the worker started, and nobody stood in for it


def test_the_old_threads_option_still_sets_the_worker_count(capsys):
    from conftest import run_minipad
    from minipad.cli import build_parser
    from minipad.cli.options import given_overrides
    for flag in ("--threads", "--workers"):
        args = build_parser().parse_args(["train", flag, "3"])
        assert given_overrides(args)["workers"] == 3
    status, out, _ = run_minipad(capsys, "train", "--help")
    assert status == 0 and "--workers" in out and "--threads" not in out  # only the new name is shown
