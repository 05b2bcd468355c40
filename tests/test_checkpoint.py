"""Checkpoints: exact round trips, clear errors for bad files, atomic writes, no pickle."""
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minipad.checkpoint import (
    CheckpointError,
    load_checkpoint,
    pack_rng_state,
    save_checkpoint,
    unpack_rng_state,
)
from minipad.errors import UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def example_arrays():
    rng = np.random.default_rng(0)
    return {
        "wte": rng.normal(size=(11, 8)).astype(np.float32),
        "h0.attn.w_qkv": rng.normal(size=(8, 24)),
        "adamw.step": np.array(7, dtype=np.int64),
        "mask": rng.random(5) > 0.5,
        "empty": np.zeros((0, 3), dtype=np.float32),
        "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
        "tokens": np.array(["<pad>", "0", "+", "é"]),
        "fortran": np.asfortranarray(rng.normal(size=(3, 4))),
    }


def example_meta():
    return {
        "config": {"n_layer": 2, "n_head": 4, "position": "learned", "tie_weights": True},
        "vocabulary": ["<pad>", "0", "1", "+", " ", "é"],
        "step": 1200,
        "loss": 0.125,
        "note": None,
    }


def assert_bit_equal(loaded, expected):
    assert sorted(loaded) == sorted(expected)
    for name, array in expected.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        assert loaded[name].tobytes() == np.ascontiguousarray(array).tobytes(), name


def visible_files(folder):
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def test_round_trip_is_bit_exact(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, example_arrays(), example_meta())
    arrays, meta = load_checkpoint(path)
    assert_bit_equal(arrays, example_arrays())
    assert meta == example_meta()
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    # It is an ordinary .npz: plain NumPy opens it without pickle.
    with np.load(path, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["wte"], example_arrays()["wte"])


@given(
    arrays=st.dictionaries(
        st.text(st.characters(blacklist_characters="/\\\x00", blacklist_categories=["Cs"]), min_size=1,
                max_size=8).filter(lambda name: name != "__meta__"),
        hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
        max_size=4,
    ),
    step=st.integers(0, 10**30),
)
def test_round_trip_of_any_arrays(tmp_path_factory, arrays, step):
    path = tmp_path_factory.mktemp("ckpt") / "any.npz"
    save_checkpoint(path, arrays, {"step": step})
    loaded, meta = load_checkpoint(path)
    assert_bit_equal(loaded, arrays)
    assert meta == {"step": step}


def test_overwriting_replaces_the_previous_checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, {"w": np.zeros(3)}, {"step": 1})
    save_checkpoint(path, {"v": np.ones(2)}, {"step": 2})
    arrays, meta = load_checkpoint(path)
    assert list(arrays) == ["v"] and meta == {"step": 2}
    assert os.listdir(tmp_path) == ["model.npz"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at .*missing.npz"):
        load_checkpoint(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


def test_checkpoint_error_is_a_one_line_value_error_and_user_error(tmp_path):
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path / "missing.npz")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, UserError)
    assert "\n" not in str(caught.value)


def test_every_truncation_is_detected(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, example_arrays(), example_meta())
    content = path.read_bytes()
    broken = tmp_path / "broken.npz"
    for length in sorted({0, 1, 3, 4, 30} | set(range(0, len(content), max(1, len(content) // 40)))):
        broken.write_bytes(content[:length])
        with pytest.raises(CheckpointError, match="truncated or corrupt") as caught:
            load_checkpoint(broken)
        assert "\n" not in str(caught.value)


def test_any_single_corrupted_byte_is_detected_or_harmless(tmp_path):
    # Flip each byte in turn. The zip checksums cover all array data and headers; the bytes they do
    # not cover (timestamps, attributes) do not change what is loaded. Either way: never a wrong
    # array, never an exception other than CheckpointError.
    path = tmp_path / "small.npz"
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.5, -2.0])}
    meta = {"step": 3}
    save_checkpoint(path, arrays, meta)
    content = path.read_bytes()
    broken = tmp_path / "broken.npz"
    detected = 0
    for position in range(len(content)):
        damaged = bytearray(content)
        damaged[position] ^= 0xFF
        broken.write_bytes(bytes(damaged))
        try:
            loaded, loaded_meta = load_checkpoint(broken)
        except CheckpointError as error:
            assert "\n" not in str(error)
            detected += 1
            continue
        assert_bit_equal(loaded, arrays)
        assert loaded_meta == meta
    assert detected > len(content) // 2


def test_files_that_are_not_checkpoints(tmp_path):
    text_file = tmp_path / "notes.npz"
    text_file.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(text_file)

    plain_npz = tmp_path / "plain.npz"
    np.savez(plain_npz, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="no __meta__ entry"):
        load_checkpoint(plain_npz)

    bad_meta = tmp_path / "bad_meta.npz"
    np.savez(bad_meta, __meta__=np.array("{not json"))
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(bad_meta)

    future = tmp_path / "future.npz"
    np.savez(future, __meta__=np.array(json.dumps({"format": "minipad-checkpoint", "version": 99, "meta": {}})))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(future)


def test_an_array_gone_missing_is_detected(tmp_path):
    # A damaged zip directory can hide an entry without any checksum failing; the saved name list
    # catches it.
    path = tmp_path / "model.npz"
    envelope = {"format": "minipad-checkpoint", "version": 1, "meta": {}, "arrays": ["b", "w"]}
    np.savez(path, __meta__=np.array(json.dumps(envelope)), w=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"corrupt \(arrays missing: \['b'\]"):
        load_checkpoint(path)


class CreatesFileWhenUnpickled:
    """Unpickling this calls open(path, 'w'): proof that a loader ran code from the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    marker = tmp_path / "code_ran"
    malicious = tmp_path / "malicious.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = CreatesFileWhenUnpickled(str(marker))
    envelope = {"format": "minipad-checkpoint", "version": 1, "meta": {}, "arrays": ["w"]}
    np.savez(malicious, __meta__=np.array(json.dumps(envelope)), w=payload)

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was called while loading a checkpoint")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(CheckpointError, match="pickled object array"):
        load_checkpoint(malicious)
    assert not marker.exists()


def test_save_refuses_what_it_cannot_store_without_pickle(tmp_path):
    path = tmp_path / "model.npz"
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint(path, {"w": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(path, {"w": np.zeros(2)}, {"step": np.int64(3)})
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(path, {"w": np.zeros(2)}, {"loss": float("nan")})
    for bad_name in ["", "a/b", "__meta__"]:
        with pytest.raises(ValueError, match="invalid array name"):
            save_checkpoint(path, {bad_name: np.zeros(2)}, {})
    assert os.listdir(tmp_path) == []  # nothing was written, not even a temporary file


def test_save_into_a_missing_folder_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="cannot write checkpoint"):
        save_checkpoint(tmp_path / "no_such_folder" / "model.npz", {"w": np.zeros(2)}, {})


def test_failed_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_checkpoint(path, {"w": np.zeros(3)}, {"step": 1})

    def full_disk(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device.*previous checkpoint there is unchanged"):
        save_checkpoint(path, {"w": np.ones(3)}, {"step": 2})
    monkeypatch.undo()
    arrays, meta = load_checkpoint(path)
    np.testing.assert_array_equal(arrays["w"], np.zeros(3))
    assert meta == {"step": 1}
    assert os.listdir(tmp_path) == ["model.npz"]


def test_interrupt_during_the_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_checkpoint(path, {"w": np.zeros(3), "b": np.zeros(2)}, {"step": 1})
    real_write_array = np.lib.format.write_array
    calls = []

    def write_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # __meta__ and one array are written, then Ctrl-C
            raise KeyboardInterrupt
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": np.ones(3), "b": np.ones(2)}, {"step": 2})
    monkeypatch.undo()
    assert len(calls) == 3
    arrays, meta = load_checkpoint(path)
    np.testing.assert_array_equal(arrays["w"], np.zeros(3))
    assert meta == {"step": 1}
    assert os.listdir(tmp_path) == ["model.npz"]


def test_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    save_checkpoint(tmp_path / "model.npz", {"w": np.zeros(3)}, {})
    assert events[:2] == ["fsync", "replace"]


CHILD_THAT_IS_KILLED_MID_WRITE = textwrap.dedent("""
    import sys, time
    import numpy as np
    from minipad.checkpoint import save_checkpoint

    real_write_array = np.lib.format.write_array
    calls = []

    def write_slowly(*args, **kwargs):
        real_write_array(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            print("half written", flush=True)
            time.sleep(60)

    np.lib.format.write_array = write_slowly
    save_checkpoint(sys.argv[1], {"w": np.ones(100_000), "b": np.ones(10)}, {"step": 2})
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_writer_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, {"w": np.zeros(100_000), "b": np.zeros(10)}, {"step": 1})
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD_THAT_IS_KILLED_MID_WRITE, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line == "half written\n", child.stderr.read()
        child.send_signal(signal.SIGKILL)  # no clean-up code can run
    finally:
        child.kill()
        child.communicate()
    arrays, meta = load_checkpoint(path)
    np.testing.assert_array_equal(arrays["w"], np.zeros(100_000))
    assert meta == {"step": 1}
    # The half-written file is there, hidden under another name, and is itself recognised as damaged.
    assert visible_files(tmp_path) == ["model.npz"]
    leftovers = [name for name in os.listdir(tmp_path) if name != "model.npz"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.npz.") and leftovers[0].endswith(".tmp")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / leftovers[0])


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937,
                                           np.random.Philox, np.random.SFC64])
def test_rng_state_survives_json_and_a_checkpoint(tmp_path, bit_generator):
    rng = np.random.Generator(bit_generator(12345))
    rng.normal(size=3)
    rng.integers(0, 10, size=1)  # leaves PCG64 with a buffered 32-bit half: that must be saved too
    path = tmp_path / "model.npz"
    save_checkpoint(path, {}, {"rng": json.loads(json.dumps(pack_rng_state(rng)))})
    _, meta = load_checkpoint(path)
    resumed = unpack_rng_state(meta["rng"])
    np.testing.assert_array_equal(resumed.integers(0, 2**62, size=20), rng.integers(0, 2**62, size=20))
    np.testing.assert_array_equal(resumed.normal(size=5), rng.normal(size=5))


def test_damaged_rng_state_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="random generator"):
        unpack_rng_state({"bit_generator": "os.system", "state": {}})
    state = pack_rng_state(np.random.default_rng(0))
    del state["state"]
    with pytest.raises(CheckpointError, match="random generator"):
        unpack_rng_state(state)


def test_no_writer_replaces_a_device_a_pipe_or_a_socket(tmp_path):
    import socket
    import stat as stat_module
    from minipad.checkpoint import write_lines_atomically, write_text_atomically
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    link = tmp_path / "link"
    link.symlink_to(fifo)
    writers = [lambda path: save_checkpoint(path, {"w": np.zeros(2)}, {}),
               lambda path: write_text_atomically(path, "text"),
               lambda path: write_lines_atomically(path, iter(["a\n"]))]
    for path, kind in ((fifo, "a named pipe"), (tmp_path / "sock", "a socket"), (link, "a named pipe"),
                       (tmp_path, "is a folder")):
        for write in writers:
            with pytest.raises(CheckpointError, match=kind):
                write(path)
    server.close()
    assert stat_module.S_ISFIFO(os.stat(fifo).st_mode) and os.path.islink(link)
    assert sorted(os.listdir(tmp_path)) == ["link", "pipe", "sock"]
    # a link to a regular file is kept: the file it points to is replaced
    target = tmp_path / "real.json"
    target.write_text("old")
    (tmp_path / "alias.json").symlink_to(target)
    write_text_atomically(tmp_path / "alias.json", "new")
    assert os.path.islink(tmp_path / "alias.json") and target.read_text() == "new"


def test_ctrl_c_during_a_write_waits_until_the_write_has_ended(tmp_path, monkeypatch):
    import signal
    from minipad.checkpoint import interrupts_deferred
    path = tmp_path / "model.npz"
    save_checkpoint(path, {"w": np.zeros(3)}, {"step": 1})
    real_fsync = os.fsync

    def fsync_and_interrupt(descriptor):
        os.kill(os.getpid(), signal.SIGINT)   # a real Ctrl-C, in the middle of the write
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync_and_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": np.ones(3)}, {"step": 2})
    monkeypatch.undo()
    arrays, meta = load_checkpoint(path)   # the new checkpoint, whole: the Ctrl-C came after it
    assert meta == {"step": 2} and np.array_equal(arrays["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["model.npz"]
    presses = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: presses.append(signum))
    try:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            assert presses == []
        assert presses == [signal.SIGINT, signal.SIGINT]   # each passed on, in order, to the handler in place
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_run_lock_names_its_owner_and_a_stale_one_is_taken_over(tmp_path):
    import subprocess
    import sys
    from minipad.checkpoint import RunLock
    from minipad.errors import UserError
    notes = []
    with RunLock(str(tmp_path), log=notes.append):
        owner = (tmp_path / RunLock.NAME).read_text().splitlines()
        assert owner[0] == str(os.getpid())
        with pytest.raises(UserError, match=f"in use by process {os.getpid()}"):
            RunLock(str(tmp_path)).__enter__()
    assert not (tmp_path / RunLock.NAME).exists()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / RunLock.NAME).write_text(f"{gone.pid}\nminipad train\n")
    with RunLock(str(tmp_path), log=notes.append):
        assert (tmp_path / RunLock.NAME).read_text().startswith(f"{os.getpid()}\n")
    assert notes == [f"note: {tmp_path} was locked by process {gone.pid}, which no longer runs: taking the lock over"]


def _attention_with_halves_rope(qkv, n_head, cos, sin):
    """Attention as version 1 of the checkpoints computed it: RoPE paired x[i] with x[i + HS/2]."""
    B, T, C3 = qkv.shape
    HS = C3 // (3 * n_head)
    q, k, v = qkv.reshape(B, T, 3, n_head, HS).transpose(2, 0, 3, 1, 4)

    def rotate(x):
        x1, x2 = x[..., :HS // 2], x[..., HS // 2:]
        return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)

    scores = rotate(q) @ rotate(k).swapaxes(-1, -2) / np.sqrt(HS) + np.triu(np.full((T, T), -np.inf), 1)
    att = np.exp(scores - scores.max(axis=-1, keepdims=True))
    att /= att.sum(axis=-1, keepdims=True)
    return (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C3 // 3)


@pytest.mark.parametrize("n_head,n_embd", [(2, 8), (4, 64)])
def test_a_version_1_checkpoint_loads_as_the_same_model(tmp_path, n_head, n_embd):
    """Version 1 paired the halves of each head for RoPE; loading reorders the qkv columns (weights, biases,
    optimizer moments) so that the model computes what it computed, checked against that old attention."""
    from minipad.nn import attention_forward, rope_tables
    rng = np.random.default_rng(0)
    old = {"param.h.0.attn.qkv.weight": rng.standard_normal((n_embd, 3 * n_embd)),
           "param.h.0.attn.qkv.bias": rng.standard_normal(3 * n_embd),
           "adamw.m.h.0.attn.qkv.weight": rng.standard_normal((n_embd, 3 * n_embd)),
           "param.h.0.attn.proj.weight": rng.standard_normal((n_embd, n_embd))}
    meta = {"model_config": {"n_embd": n_embd, "n_head": n_head, "position": "rope"}}
    path = tmp_path / "old.npz"
    envelope = {"format": "minipad-checkpoint", "version": 1, "meta": meta, "arrays": sorted(old)}
    np.savez(path, __meta__=np.array(json.dumps(envelope)), **old)
    new, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta and sorted(new) == sorted(old)
    np.testing.assert_array_equal(new["param.h.0.attn.proj.weight"], old["param.h.0.attn.proj.weight"])
    moved = "adamw.m.h.0.attn.qkv.weight"  # the moments move with their weights
    assert sorted(new[moved].ravel()) == sorted(old[moved].ravel()) and not np.array_equal(new[moved], old[moved])

    x = rng.standard_normal((2, 7, n_embd))
    cos, sin = rope_tables(np.arange(7), n_embd // n_head, np.float64)
    qkv_old = x @ old["param.h.0.attn.qkv.weight"] + old["param.h.0.attn.qkv.bias"]
    qkv_new = x @ new["param.h.0.attn.qkv.weight"] + new["param.h.0.attn.qkv.bias"]
    expected = _attention_with_halves_rope(qkv_old, n_head, cos, sin)
    np.testing.assert_allclose(attention_forward(qkv_new, n_head, (cos, sin))[0], expected, rtol=1e-12, atol=1e-12)


def test_a_version_1_checkpoint_without_rotary_positions_loads_unchanged(tmp_path):
    old = {"param.h.0.attn.qkv.weight": np.arange(24.0).reshape(2, 12)}
    for meta in ({"model_config": {"n_embd": 4, "n_head": 2, "position": "learned"}}, {}):
        path = tmp_path / "old.npz"
        envelope = {"format": "minipad-checkpoint", "version": 1, "meta": meta, "arrays": sorted(old)}
        np.savez(path, __meta__=np.array(json.dumps(envelope)), **old)
        np.testing.assert_array_equal(load_checkpoint(path)[0]["param.h.0.attn.qkv.weight"],
                                      old["param.h.0.attn.qkv.weight"])


@pytest.mark.parametrize("model_config", [{"position": "rope"}, {"position": "rope", "n_embd": 4, "n_head": 0},
                                          {"position": "rope", "n_embd": 8, "n_head": 2}])
def test_a_damaged_version_1_checkpoint_is_a_one_line_error(tmp_path, model_config):
    path = tmp_path / "old.npz"
    old = {"param.h.0.attn.qkv.weight": np.zeros((2, 5))}  # not 3 x n_embd columns wide
    envelope = {"format": "minipad-checkpoint", "version": 1, "meta": {"model_config": model_config},
                "arrays": sorted(old)}
    np.savez(path, __meta__=np.array(json.dumps(envelope)), **old)
    with pytest.raises(CheckpointError, match="unreadable metadata") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)
