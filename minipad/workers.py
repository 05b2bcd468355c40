"""Worker processes: other Python processes that compute the loss and gradients of part of a batch.

    worker = worker_process(0)                                     # started once, kept until the program ends
    worker.submit(model, ids, targets, loss_mask, normalizer, layout)   # returns at once; the worker computes
    ...                                                            # this process computes its own part meanwhile
    loss, grads = worker.result()                                  # waits for the worker's part

Why processes and not threads. NumPy releases the interpreter lock inside its array operations, so two
Python threads can share a step; but every NumPy call also holds the lock a little while (checking its
arguments, allocating its result), and a training step makes thousands of small calls. On a 2-core
machine a step of the default batch took 93 ms on two threads (one half each) and about 60 ms on two
processes: the threads spent the difference waiting for each other's turn at the lock.
Processes share nothing, so each has a core to itself.

What crosses between the processes, through the worker's standard input and output (pipes):
    to the worker:   a header line of JSON (the model's config, the normalizer, each array's name, dtype
                     and shape), and the arrays: the parameters as they are now, and the rows of the batch
                     (ids, targets, loss mask, the layout's arrays)
    from the worker: a header line with the loss, and every gradient
The arrays travel as raw bytes named by the header, never pickled: nothing is executed on reading. They are
copied into a shared area (memory both processes map, SharedArea) and the header says where; without one
(Windows) they follow the header down the pipe. The parameters go along with every step (the optimizer
changed them): 0.4 MB for the default model, 3 MB for 4 layers of width 128, whose step (about 260 ms on
2 cores) was 4-13 ms slower when its arrays went down the pipes.

The worker process runs main() below, with the minipad this process runs. It builds a model of the config
it is sent (again only when the config changes), sets the parameters it is sent, calls
model.loss_and_grads and answers. Ctrl-C does not reach it (it runs in a session or process group of its
own, and ignores SIGINT): the program that started it decides when to stop (between steps, see
minipad/train.py). A worker ends when its standard input closes, which happens when that program ends,
however it ends (unless it started other programs that hold the pipe open).
"""
from __future__ import annotations

import atexit
import json
import mmap
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["WorkerProcess", "WorkerError", "worker_process", "close_workers"]

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding minipad/


class WorkerError(RuntimeError):
    """A worker process failed or stopped; the message holds what it said."""


# ------------------------------------------------------------------------------- messages
class SharedArea:
    """Memory this process and a worker process both map: a file without a name (created and unlinked at
    once, handed to the worker as an open file descriptor), in /dev/shm, which is memory, where Linux has
    it; so nothing is left behind however the processes end. A message's arrays are copied into it, and
    the pipe carries only the header. The writer grows the file when a message needs more room; the reader
    maps it again when the header says it has grown. If the file cannot grow (a full /dev/shm, as in a
    small container), OSError: that message goes down the pipe instead.
    """
    ALIGN = 64  # each array starts on a cache line

    def __init__(self, descriptor: int, file=None):
        self.descriptor = descriptor
        self.file = file  # the creator keeps the file object, which closes the descriptor when dropped
        self.map, self.size = None, 0

    @classmethod
    def create(cls) -> "SharedArea":
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None  # memory-backed where Linux has it
        file = tempfile.TemporaryFile(dir=folder)
        return cls(file.fileno(), file)

    def write(self, arrays: dict) -> tuple[int, list[int]]:
        """Copy the arrays in; returns (the area's size, each array's offset)."""
        offsets, end = [], 0
        for array in arrays.values():
            offsets.append(end)
            end += -(-array.nbytes // self.ALIGN) * self.ALIGN
        if end > self.size:
            self._map(max(end, 2 * self.size), grow=True)  # OSError if there is no room
        for array, offset in zip(arrays.values(), offsets):
            np.copyto(self.view(array.dtype, array.shape, offset), array)
        return self.size, offsets

    def view(self, dtype, shape, offset: int) -> np.ndarray:
        """An array over the area's bytes at offset (no copy; valid until the next message)."""
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return np.empty(shape, dtype)
        return np.frombuffer(self.map, dtype, count, offset).reshape(shape)

    def follow(self, size: int) -> None:
        """Reader's side: map the area again if the writer has grown it."""
        if size != self.size:
            self._map(size, grow=False)

    def _map(self, size: int, grow: bool) -> None:
        if grow:
            if hasattr(os, "posix_fallocate"):
                # Take the room now: a file only made longer (ftruncate) gets its pages when first written,
                # and if /dev/shm is full then, the process dies of SIGBUS instead of getting an error.
                os.posix_fallocate(self.descriptor, 0, size)
            else:
                os.ftruncate(self.descriptor, size)
        # The old map is not closed: arrays handed out may still view it; it goes when the last of them does.
        self.map, self.size = mmap.mmap(self.descriptor, size), size


def write_message(stream, header: dict, arrays: dict, area: SharedArea | None = None) -> None:
    """One message: the header (with each array's name, dtype and shape added) as a line of JSON, then the
    arrays' bytes in the same order; or, given a shared area, the arrays copied there and their offsets in
    the header."""
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    entries = [[name, array.dtype.str, list(array.shape)] for name, array in arrays.items()]
    if area is not None:
        try:
            size, offsets = area.write(arrays)
        except OSError:  # no room for the area to grow: this message goes down the pipe
            area = None
        else:
            header = {**header, "area": size}
            for entry, offset in zip(entries, offsets):
                entry.append(offset)
    stream.write(json.dumps({**header, "arrays": entries}).encode() + b"\n")
    if area is None:
        for array in arrays.values():
            if not array.flags.c_contiguous:
                array = array.copy()
            stream.write(array.reshape(-1).view(np.uint8).data)  # the bytes as they lie in memory, no copy
    stream.flush()


def read_message(stream, area: SharedArea | None = None) -> tuple[dict, dict] | None:
    """(header, arrays) of the next message; None if the stream ended before one began. Arrays read from a
    shared area are views of it, valid until the next message."""
    line = stream.readline()
    if not line:
        return None
    header = json.loads(line)
    if "area" in header:
        area.follow(header.pop("area"))
    arrays = {}
    for name, dtype, shape, *offset in header.pop("arrays"):
        if offset:
            arrays[name] = area.view(np.dtype(dtype), shape, offset[0])
        else:
            array = np.empty(shape, np.dtype(dtype))
            _read_exactly(stream, array.reshape(-1).view(np.uint8).data)
            arrays[name] = array
    return header, arrays


def _read_exactly(stream, buffer) -> None:
    done, size = 0, len(buffer)
    while done < size:
        count = stream.readinto(buffer[done:])
        if not count:
            raise EOFError(f"the message ended after {done} of {size} bytes")
        done += count


# ------------------------------------------------------------------------------- this side: the worker's handle
class WorkerProcess:
    """The handle of one worker process: submit a part of a batch, then collect its result."""

    def __init__(self):
        environment = helper_environment()
        # The arrays go through two shared areas, one each way, where the system can hand open files to a
        # child process (POSIX); elsewhere, or if they cannot be made, through the pipes.
        self.requests = self.replies = None
        if os.name == "posix":
            try:
                self.requests, self.replies = SharedArea.create(), SharedArea.create()
            except OSError:
                self.requests = self.replies = None
        descriptors = [area.descriptor for area in (self.requests, self.replies) if area is not None]
        # A new session (POSIX) or process group (Windows): a Ctrl-C in the terminal reaches only this process.
        apart = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        self.process = subprocess.Popen([sys.executable, "-c", worker_code(), *map(str, descriptors)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment,
                                        pass_fds=descriptors, **apart)
        # The messenger: a thread that sends the work and then waits for the answer, so that this process
        # computes its own part meanwhile (a thread waiting in a system call does not hold the interpreter lock).
        self.messenger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minipad-worker-pipe")
        self.answer = None  # the messenger's Future while an answer is awaited

    @property
    def pending(self) -> bool:
        """True from submit until result: an answer is on its way."""
        return self.answer is not None

    def submit(self, model, ids, targets, loss_mask, normalizer, layout) -> None:
        """Send the model's config and parameters and the rows, and return at once: the messenger thread
        writes them and then reads the answer. Nothing sent may change until result() (the parameters
        are read as they are being written)."""
        from dataclasses import asdict
        arrays = {f"param {name}": value for name, value in model.params.items()}
        arrays.update(ids=ids, targets=targets, loss_mask=loss_mask)
        if layout is not None:
            arrays.update({f"layout {name}": value for name, value in layout._asdict().items() if value is not None})
        header = {"config": asdict(model.config), "normalizer": normalizer}
        self.answer = self.messenger.submit(self._exchange, header, arrays)

    def result(self):
        """(loss, grads) of the part last submitted, as model.loss_and_grads returns them; the gradients
        may be views of the shared area, valid until the next submit (add them up, or copy them)."""
        answer, self.answer = self.answer, None
        return answer.result()

    def _exchange(self, header, arrays):
        """In the messenger thread: send one request, read its answer."""
        try:
            write_message(self.process.stdin, header, arrays, self.requests)
        except (OSError, ValueError) as error:  # ValueError: the pipe was closed here
            raise WorkerError(self._stopped(f"could not be sent its work ({error})")) from None
        try:
            message = read_message(self.process.stdout, self.replies)
        except (EOFError, OSError, ValueError) as error:
            raise WorkerError(self._stopped(f"sent a broken answer ({error})")) from None
        if message is None:
            raise WorkerError(self._stopped("stopped before answering"))
        header, arrays = message
        if "error" in header:
            raise WorkerError(f"a worker process failed:\n{header['error']}")
        return header["loss"], {name.removeprefix("grad "): grad for name, grad in arrays.items()}

    def _stopped(self, what: str) -> str:
        status = self.process.poll()
        return f"a worker process {what}" + ("" if status is None else f" (exit status {status})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float = 5.0) -> None:
        """Close its input (it then exits) and wait for it; kill it if it does not exit in time. Then the
        messenger (which a dead worker has released) and the areas' files."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.messenger.shutdown(wait=True)
        self.process.stdout.close()
        for area in (self.requests, self.replies):
            if area is not None:
                area.file.close()  # the memory goes with the last map of it


def helper_environment() -> dict:
    """This process's environment for a helper process, with one BLAS thread unless it says otherwise."""
    environment = dict(os.environ)
    for variable in BLAS_THREAD_VARIABLES:
        environment.setdefault(variable, "1")
    return environment


def worker_code(module: str = "minipad.workers") -> str:
    """The program of a helper process (`python -c` it): find minipad where this process found it (its own
    sys.path, without the current folder, which could hold another copy; the package's folder first if
    only the current folder held it), then run the module's main()."""
    path = [entry for entry in sys.path if entry]
    if PACKAGE_PARENT not in path:
        path.insert(0, PACKAGE_PARENT)
    return f"import sys; sys.path[:] = {path!r}; from {module} import main; main()"


_workers: list[WorkerProcess | None] = []  # started on first use, kept until the program ends
_workers_lock = threading.Lock()


def worker_process(index: int) -> WorkerProcess:
    """The index-th worker process, started now if it is not running (or has stopped)."""
    with _workers_lock:
        while len(_workers) <= index:
            _workers.append(None)
        worker = _workers[index]
        if worker is None or not worker.alive() or worker.pending:  # pending: a caller gave up on its answer
            if worker is not None:
                worker.process.kill()
                worker.close()
            worker = _workers[index] = WorkerProcess()
        return worker


@atexit.register
def close_workers() -> None:
    """Stop every worker process (it also stops by itself when this process ends)."""
    with _workers_lock:
        for worker in _workers:
            if worker is not None:
                worker.close()
        _workers.clear()


# ------------------------------------------------------------------------------- the other side: the worker
def serve(requests, replies, request_area=None, reply_area=None) -> None:
    """Answer each request on `requests` with the loss and gradients of its rows, until the stream ends.
    The parameters the model computes with are views of the request area: nothing is copied twice."""
    from .model import GPT, GPTConfig, TokenLayout
    model, config = None, None
    while True:
        message = read_message(requests, request_area)
        if message is None:
            return
        header, arrays = message
        try:
            if header["config"] != config:
                config = header["config"]
                model = GPT(GPTConfig(**config), np.random.default_rng(0))  # weights replaced just below
            model.params = {name.removeprefix("param "): value for name, value in arrays.items()
                            if name.startswith("param ")}
            fields = {name.removeprefix("layout "): value for name, value in arrays.items()
                      if name.startswith("layout ")}
            loss, grads = model.loss_and_grads(arrays["ids"], arrays["targets"], arrays["loss_mask"],
                                               header["normalizer"], TokenLayout(**fields) if fields else None)
        except Exception:  # noqa: BLE001 -- whatever it is, the other side raises it with this text
            config = None  # build the model afresh next time
            write_message(replies, {"error": traceback.format_exc()}, {})
            continue
        # the loss, a Python float, goes in the header: JSON writes a float's shortest exact decimal form
        write_message(replies, {"loss": float(loss)}, {f"grad {name}": grad for name, grad in grads.items()},
                      reply_area)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the program that started this one
    from .malloc import keep_freed_memory
    keep_freed_memory()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not break the messages
    areas = [SharedArea(int(descriptor)) for descriptor in sys.argv[1:3]] or [None, None]
    try:
        serve(requests, replies, *areas)
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        pass  # the other side has gone: nothing left to do


if __name__ == "__main__":
    main()
