"""Checkpoints: named arrays plus JSON metadata in one .npz file, written atomically, never pickled.

A checkpoint is an ordinary NumPy .npz (a zip of .npy files) that `np.load` can open:

    <name>.npy          one entry per array (model weights, optimizer moments, ...)
    __meta__.npy        a 0-d unicode array holding JSON:
                        {"format": "minipad-checkpoint", "version": 1, "meta": <your meta>,
                         "arrays": [the sorted array names, to check that none went missing]}

Why these choices:
- No pickle, ever. Arrays are written with `allow_pickle=False` and read with `allow_pickle=False`, so
  loading a checkpoint from somewhere else cannot run code. Everything that is not an array (config,
  vocabulary, step, random state) is JSON, which anybody can read and check.
- Atomic writes. The file is first written to a hidden temporary file in the same folder, flushed and
  fsync'ed, then renamed over the old checkpoint with `os.replace` (atomic on POSIX and Windows). A crash
  or Ctrl-C during the write leaves the previous checkpoint whole; the worst left behind is a hidden
  '.<name>.*.tmp' file (after a hard kill, which no clean-up code can catch).
- Errors a person can act on. A missing, truncated or corrupt file raises `CheckpointError`, whose
  one-line message says what is wrong and what to do.
"""
from __future__ import annotations

import json
import os
import uuid
import zipfile

import numpy as np

from .errors import UserError

__all__ = [
    "CheckpointError",
    "write_text_atomically",
    "save_checkpoint",
    "load_checkpoint",
    "pack_rng_state",
    "unpack_rng_state",
]

META_KEY = "__meta__"
FORMAT_NAME = "minipad-checkpoint"
FORMAT_VERSION = 1
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

    folder = os.path.dirname(os.path.abspath(path))
    # Hidden, unique and in the same folder: os.replace is only atomic within one file system.
    temporary_path = os.path.join(
        folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    )
    try:
        # 0o666 before the umask: the checkpoint gets the same permissions as any new file.
        handle = os.open(temporary_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoint {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            # Uncompressed, like np.savez: checkpoints are small and saving should be quick.
            with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                _write_array(archive, META_KEY, np.array(meta_text))
                for name, array in arrays.items():
                    _write_array(archive, name, array)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        os.replace(temporary_path, path)
    except BaseException as error:  # includes KeyboardInterrupt: never leave the temporary file behind
        try:
            os.remove(temporary_path)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError):  # disk full, quota, ...
            raise CheckpointError(f"could not write checkpoint {path} ({error.strerror or error}); "
                                  f"any previous checkpoint there is unchanged") from None
        raise
    _fsync_folder(folder)


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
    if envelope.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {envelope.get('version')}, this minipad "
                              f"reads version {FORMAT_VERSION}: use the minipad version that saved it")
    if "meta" not in envelope or not isinstance(envelope.get("arrays"), list):
        raise CheckpointError(unreadable)
    meta, names = envelope["meta"], envelope["arrays"]
    # A damaged zip directory can silently hide entries: the list saved with the metadata catches that.
    if sorted(arrays) != names:
        missing = sorted(set(names) - set(arrays))
        extra = sorted(set(arrays) - set(names))
        raise CheckpointError(f"checkpoint {path} is corrupt (arrays missing: {missing}, unexpected: {extra}): "
                              f"use an earlier checkpoint or train again")
    return arrays, meta


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


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write a text file (JSON, CSV, JSONL) as checkpoints are written: a temporary file, then a rename.

    A failure leaves any earlier file whole and raises CheckpointError (a UserError) saying what failed.
    """
    path = os.fspath(path)
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise CheckpointError(f"cannot write {path}: {error.strerror or error}") from None
