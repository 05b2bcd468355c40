"""Checkpoints: named arrays plus JSON metadata in one .npz file, written atomically, never pickled.

A checkpoint is an ordinary NumPy .npz (a zip of .npy files) that `np.load` can open:

    <name>.npy          one entry per array (model weights, optimizer moments, ...)
    __meta__.npy        a 0-d unicode array holding JSON:
                        {"format": "minipad-checkpoint", "version": 2, "meta": <your meta>,
                         "arrays": [the sorted array names, to check that none went missing]}

Why these choices:
- No pickle, ever. Arrays are written with `allow_pickle=False` and read with `allow_pickle=False`, so
  loading a checkpoint from somewhere else cannot run code. Everything that is not an array (config,
  vocabulary, step, random state) is JSON, which anybody can read and check.
- Atomic writes. The file is first written to a hidden temporary file in the same folder, flushed and
  fsync'ed, then renamed over the old checkpoint with `os.replace` (atomic on POSIX and Windows). A crash
  leaves the previous checkpoint whole; the worst left behind is a hidden '.<name>.*.tmp' file (after a
  hard kill, which no clean-up code can catch). Ctrl-C (SIGINT) waits until the write has ended, so a
  save that has begun always finishes. Every file minipad writes goes through the same helper
  (`write_atomically`), and it refuses to replace anything but a regular file: renaming over
  /dev/full, a named pipe or a socket would destroy it.
- Old checkpoints keep working. Version 1 differs only in how rotary positions paired the numbers of a
  head (see `_from_version_1`); reading one converts it, so that the model computes what it computed.
- Errors a person can act on. A missing, truncated or corrupt file raises `CheckpointError`, whose
  one-line message says what is wrong and what to do.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable

import numpy as np

from .errors import UserError

__all__ = [
    "CheckpointError",
    "write_atomically",
    "write_text_atomically",
    "write_lines_atomically",
    "replaceable_path",
    "interrupts_deferred",
    "RunLock",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "pack_rng_state",
    "unpack_rng_state",
]

META_KEY = "__meta__"
FORMAT_NAME = "minipad-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
ZIP_MAGIC = b"PK\x03\x04"
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows only: no newline translation


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be read (missing, truncated, corrupt, not minipad's) or written."""


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write `arrays` and the JSON-serialisable `meta` to `path` atomically (see the module docstring).

    Array names must be non-empty strings without '/' or '\\' (they become file names inside the zip)
    and not '__meta__'. Object arrays are refused, because they can only be stored by pickling.
    Nothing is written if the arrays or the metadata are invalid.
    """
    path = os.fspath(path)
    for name, array in arrays.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name == META_KEY:
            raise ValueError(f"invalid array name {name!r}: use a non-empty string without '/' or '\\', "
                             f"other than {META_KEY!r}")
        if not isinstance(array, np.ndarray):
            raise TypeError(f"array {name!r} is a {type(array).__name__}, not a numpy array")
        if array.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object, which can only be saved by pickling: "
                            "convert it to a numeric or string dtype")
    try:
        meta_text = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "meta": meta,
                                "arrays": sorted(arrays)}, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"checkpoint meta must be JSON-serialisable (no NaN or inf): {error}") from None


    def fill(file):
        # Uncompressed, like np.savez: checkpoints are small and saving should be quick.
        with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            _write_array(archive, META_KEY, np.array(meta_text))
            for name, array in arrays.items():
                _write_array(archive, name, array)

    write_atomically(path, fill, what="checkpoint")


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """One .npy entry in the zip, as np.savez writes it, but with pickling switched off."""
    with archive.open(name + ".npy", mode="w", force_zip64=True) as entry:
        np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by `save_checkpoint`: returns (arrays, meta).

    Every array is read into memory (and its zip checksum verified) before returning, so a corrupt
    file fails here with a `CheckpointError` and not later in the middle of training.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}: check the path, or train a model to create one")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint file: give the path of the .npz file")
    damaged = (f"checkpoint {path} is truncated or corrupt (was its writing interrupted, or the copy "
               f"incomplete?): use an earlier checkpoint or train again")
    try:
        with open(path, "rb") as file:
            magic = file.read(len(ZIP_MAGIC))
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror}") from None
    if len(magic) < len(ZIP_MAGIC):
        raise CheckpointError(damaged)
    if magic != ZIP_MAGIC:
        raise CheckpointError(f"{path} is not a checkpoint (not an .npz file): give a checkpoint "
                              f"saved by minipad")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise CheckpointError(f"checkpoint {path} holds a pickled object array, which minipad never "
                                  f"writes and will not load: it was not made by minipad") from None
        raise CheckpointError(damaged) from None
    except Exception:  # BadZipFile, EOFError, OSError; a damaged .npy header can raise almost anything
        raise CheckpointError(damaged) from None
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):  # np.load hands back the raw bytes of a non-.npy entry
            raise CheckpointError(f"{path} is an .npz file but not a minipad checkpoint (entry {name!r} is "
                                  f"not an array): give a checkpoint saved by minipad")

    if META_KEY not in arrays:
        raise CheckpointError(f"{path} is an .npz file but not a minipad checkpoint (it has no "
                              f"{META_KEY} entry): give a checkpoint saved by minipad")
    meta_array = arrays.pop(META_KEY)
    unreadable = (f"checkpoint {path} has unreadable metadata: it is damaged or was not saved by minipad")
    try:
        envelope = json.loads(str(meta_array[()]))
        is_minipad = isinstance(envelope, dict) and envelope.get("format") == FORMAT_NAME
    except (ValueError, IndexError):
        raise CheckpointError(unreadable) from None
    if not is_minipad:
        raise CheckpointError(unreadable)
    if envelope.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"checkpoint {path} has format version {envelope.get('version')}, this minipad "
                              f"reads versions {' and '.join(map(str, READABLE_VERSIONS))}: use the minipad "
                              f"version that saved it")
    if "meta" not in envelope or not isinstance(envelope.get("arrays"), list):
        raise CheckpointError(unreadable)
    meta, names = envelope["meta"], envelope["arrays"]
    # A damaged zip directory can silently hide entries: the list saved with the metadata catches that.
    if sorted(arrays) != names:
        missing = sorted(set(names) - set(arrays))
        extra = sorted(set(arrays) - set(names))
        raise CheckpointError(f"checkpoint {path} is corrupt (arrays missing: {missing}, unexpected: {extra}): "
                              f"use an earlier checkpoint or train again")
    if envelope["version"] == 1:
        try:
            arrays = _from_version_1(arrays, meta)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
            raise CheckpointError(unreadable) from None
    return arrays, meta


def _from_version_1(arrays: dict, meta) -> dict:
    """A version 1 checkpoint's arrays, as version 2 holds the same model.

    Rotary positions (minipad/nn/rope.py) rotate pairs of numbers in each head of q and k. Version 1 paired
    x[i] with x[i + HS/2] (the two halves of a head); version 2 pairs neighbours, x[2i] with x[2i+1]. The
    model stays the same if each head's q and k columns of the qkv projection are reordered so that old
    pair i lands on new pair i: new column 2i takes old column i, new column 2i+1 old column i + HS/2. The
    weight, the bias and the optimizer's moments of every qkv projection are reordered (their last axis);
    q . k is unchanged by reordering both alike, so every score, and everything after, is what it was.
    """
    config = meta.get("model_config") if isinstance(meta, dict) else None
    if not isinstance(config, dict) or config.get("position") != "rope":
        return arrays
    C, NH = int(config["n_embd"]), int(config["n_head"])
    HS = C // NH
    in_head = np.arange(HS).reshape(2, HS // 2).T.reshape(-1)  # [0, HS/2, 1, HS/2 + 1, ...]
    columns = np.concatenate([part * C + head * HS + in_head for part in (0, 1) for head in range(NH)]
                             + [np.arange(2 * C, 3 * C)])  # q's and k's heads reordered, v's kept
    return {name: array[..., columns] if name.endswith(("attn.qkv.weight", "attn.qkv.bias")) else array
            for name, array in arrays.items()}


def load_model(path: str | os.PathLike) -> tuple:
    """(model, train config, arrays, meta) of a checkpoint that training saved (minipad/train.py save_run);
    UserError if it does not hold a model this minipad can rebuild.

    Model, config and task are imported here rather than at the top: every file minipad writes goes through
    this module, also for the commands that load no model (data)."""
    from .config import TrainConfig
    from .model import GPT, GPTConfig
    from .tasks import get_task
    arrays, meta = load_checkpoint(path)
    rebuild = "train a new one with 'python -m minipad train'"
    try:
        config = TrainConfig.from_saved(meta["train_config"])
        config.validate()
    except (KeyError, TypeError, ValueError, UserError) as error:
        raise UserError(f"{path} does not hold a model minipad can rebuild ({error}): {rebuild}") from None
    if meta.get("vocabulary") != list(get_task(config.task).tokenizer().vocabulary):
        raise UserError(f"{path} was trained with another vocabulary than minipad's {config.task} task now "
                        f"uses, so its token ids mean other text: use the minipad version that saved it, or "
                        f"train a new one with 'python -m minipad train --task {config.task}'")
    try:
        int(meta["step"]), float(meta["train_seconds"]), list(meta["history"]), list(meta["evaluations"])
        model_config = GPTConfig(**meta["model_config"])
        model = GPT(model_config, np.random.default_rng(0))
        for name in model.params:
            saved = arrays[f"param.{name}"]
            if saved.shape != model.params[name].shape:
                raise ValueError(f"{name} has shape {saved.shape}, expected {model.params[name].shape}")
            model.params[name] = saved.astype(model.dtype, copy=False)
        not_finite = [name for name, value in arrays.items()
                      if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all()]
    except (KeyError, TypeError, ValueError, UserError) as error:
        raise UserError(f"{path} does not hold a model minipad can rebuild ({error}): {rebuild}") from None
    if not_finite:
        raise UserError(f"{path} holds numbers that are not finite (NaN or infinity) in {not_finite[0]}"
                        f"{f' and {len(not_finite) - 1} more arrays' if len(not_finite) > 1 else ''}: "
                        f"its training diverged; use an earlier checkpoint or train again with a lower --lr")
    return model, config, arrays, meta



# Bit generators whose state can be restored; named explicitly so a checkpoint cannot make us look
# up an arbitrary attribute of numpy.random.
_BIT_GENERATORS = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


def pack_rng_state(rng: np.random.Generator) -> dict:
    """The state of `rng` as a JSON-serialisable dict, to put in a checkpoint's meta.

    `rng.bit_generator.state` is a dict of Python ints (PCG64's are 128-bit: Python's json writes and
    reads them exactly) and, for some bit generators, numpy arrays, stored here as
    {"__array__": [...], "dtype": "..."}.
    """
    return _to_json_value(rng.bit_generator.state)


def unpack_rng_state(state: dict) -> np.random.Generator:
    """A new Generator that continues exactly where the packed one stopped."""
    try:
        bit_generator = _BIT_GENERATORS[state["bit_generator"]]()
        bit_generator.state = _from_json_value(state)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"cannot restore the random generator from the checkpoint ({error}): "
                              f"the saved state is damaged") from None
    return np.random.Generator(bit_generator)


def _to_json_value(value):
    if isinstance(value, dict):
        return {key: _to_json_value(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.integer):
        return int(value)
    return value


def _from_json_value(value):
    if isinstance(value, dict):
        if set(value) == {"__array__", "dtype"}:
            return np.array(value["__array__"], dtype=np.dtype(value["dtype"]))
        return {key: _from_json_value(item) for key, item in value.items()}
    return value


def replaceable_path(path: str | os.PathLike) -> str:
    """The file a write to ``path`` replaces (a symbolic link is followed, so the link is kept).

    CheckpointError (a UserError: one line, exit status 2) if that file exists and is not a regular
    file: a folder, a device such as /dev/full, a named pipe or a socket. Renaming over it would
    destroy it (as root even /dev/full), and writing into it would not give a file either.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as error:
        raise CheckpointError(f"cannot write {path}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise CheckpointError(f"{path} is a folder: give the name of a file to write")
    if not stat.S_ISREG(mode):
        kind = ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a named pipe" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise CheckpointError(f"{path} exists and is {kind}, not a regular file: minipad only writes regular "
                              f"files, choose another path")
    return target


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) back while the block runs, then deliver it: a write is never cut in half.

    Each Ctrl-C that arrives meanwhile is passed on afterwards to the handler that was in place, in
    order (Python's default raises KeyboardInterrupt). Only the main thread receives signals, so in
    any other thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
        for signum in received:
            if callable(previous):
                previous(signum, None)
            elif previous != signal.SIG_IGN:   # SIG_DFL, or a handler not set from Python
                raise KeyboardInterrupt


def write_atomically(path: str | os.PathLike, fill, what: str = "file", binary: bool = True,
                     defer_interrupts: bool = True) -> None:
    """Write a file by calling ``fill(file)`` on a temporary file, then renaming it to ``path``.

    The temporary file is hidden, unique and in the same folder as the target (``os.replace`` is atomic
    only within one file system); it is flushed and fsync'ed before the rename, and removed if anything
    fails, so ``path`` holds either its old content or the whole new one. ``path`` must be a regular
    file or not exist (see replaceable_path). With ``defer_interrupts`` a Ctrl-C waits until the write
    has ended; without, a Ctrl-C while ``fill`` runs (a long stream) cancels the write, and only the
    final flush and rename are protected. A failure raises CheckpointError saying what failed.
    """
    path = os.fspath(path)
    target = replaceable_path(path)
    folder = os.path.dirname(target)
    temporary = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    guard = interrupts_deferred() if defer_interrupts else contextlib.nullcontext()
    with guard:
        try:
            # 0o666 before the umask: the file gets the same permissions as any new file.
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except OSError as error:
            raise CheckpointError(f"cannot write {what} {path}: {error.strerror}") from None
        try:
            with (os.fdopen(handle, "wb") if binary
                  else os.fdopen(handle, "w", encoding="utf-8", newline="")) as file:
                fill(file)
                with interrupts_deferred():
                    file.flush()
                    os.fsync(file.fileno())   # the bytes are on disk before the rename makes them the file
                    os.replace(temporary, target)
        except BaseException as error:   # includes KeyboardInterrupt: never leave the temporary file behind
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
            if isinstance(error, OSError):   # disk full, quota, ...
                raise CheckpointError(f"could not write {what} {path} ({error.strerror or error}); "
                                      f"any previous {what} there is unchanged") from None
            raise
        _fsync_folder(folder)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write a text file (JSON, CSV, JSONL) as checkpoints are written: a temporary file, then a rename.

    A failure leaves any earlier file whole and raises CheckpointError (a UserError) saying what failed.
    """
    write_atomically(path, lambda file: file.write(text), binary=False)


def write_lines_atomically(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Stream ``lines`` (each ending in a newline) into a file atomically; returns how many were written.

    The lines are written as they come, so a dataset larger than memory never has to be held in it; the
    file appears under its name only once the last line is on disk. Ctrl-C meanwhile cancels the write.
    """
    count = 0

    def fill(file):
        nonlocal count
        for line in lines:
            file.write(line)
            count += 1

    write_atomically(path, fill, binary=False, defer_interrupts=False)
    return count


class RunLock:
    """A lock file that keeps two processes from writing the same run folder at once.

        with RunLock(folder):     # UserError naming the other process if the folder is in use
            ...                   # train, evaluate, save

    The lock is a file created with O_CREAT | O_EXCL (only one process can create it) holding the
    process id and command line of its owner; it is removed on leaving the block. A lock left by a
    process that no longer exists (killed with SIGKILL, or a machine that crashed) is stale: it is taken
    over, with a note through ``log``.
    """

    NAME = ".minipad.lock"

    def __init__(self, folder: str, log=print):
        self.folder = folder
        self.path = os.path.join(folder, self.NAME)
        self.log = log
        self.held = False

    def __enter__(self):
        command = " ".join(["minipad" if os.path.basename(sys.argv[0]) == "__main__.py" else sys.argv[0]]
                           + sys.argv[1:]) if sys.argv and sys.argv[0] else "python"
        for _ in range(2):
            try:
                handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                pid, other_command = self._owner()
                if pid is None and self._age() < 10:   # its owner may be writing its id right now
                    raise UserError(f"{self.folder} is in use by another process: wait for it to finish, or "
                                    f"choose another folder") from None
                if pid is not None and _process_exists(pid):
                    raise UserError(f"{self.folder} is in use by process {pid} ({other_command}): wait for it to "
                                    f"finish, or choose another folder") from None
                self.log(f"note: {self.folder} was locked by process {pid}, which no longer runs: "
                         f"taking the lock over")
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path)
                continue
            except OSError as error:
                raise CheckpointError(f"cannot lock {self.folder}: {error.strerror}") from None
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(f"{os.getpid()}\n{command}\n")
            self.held = True
            return self
        raise UserError(f"{self.folder} is in use by another process: wait for it to finish, or choose "
                        f"another folder")

    def _owner(self) -> tuple[int | None, str]:
        try:
            with open(self.path, encoding="utf-8") as file:
                pid_text, _, command = file.read().partition("\n")
            return int(pid_text), command.strip() or "unknown command"
        except (OSError, ValueError):
            return None, "unknown command"

    def _age(self) -> float:
        try:
            return time.time() - os.stat(self.path).st_mtime
        except OSError:
            return 0.0

    def __exit__(self, *exception):
        if self.held and self._owner()[0] == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        self.held = False


def _process_exists(pid: int) -> bool:
    """True if a process with this id runs (signal 0 tests without sending anything)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists, under another user
        return True
    except OSError:
        return True
    return True
