"""Training batches drawn ahead, in another process, while the model trains on the current one.

    prefetcher = BatchPrefetcher(config, model.config, rng)   # starts drawing from rng's state
    batch, layout = prefetcher.next(rng)   # the next batch; rng is moved on to the state after drawing it
    prefetcher.close()

Why. Drawing a batch is plain Python: sampling 32 problems, writing their scratchpads, tokenizing, laying
out positions. It took 6 ms for a default addition batch and 27 ms for a batch of programs (which are run
under a tracer), against a step of about 45 ms: time in which, without a prefetcher, the training process
draws and its worker process waits. A third process drawing the next batch meanwhile takes that work off
the step's path.

The same batches, exactly. The prefetcher starts from the run's random generator's state and draws with
the same code (train.draw_batch), so batch n is the batch drawing in the training process would give. With
each batch it sends the generator's state after that batch, and next() sets the run's generator to it. The
run's generator therefore always stands where it would without a prefetcher: a checkpoint saves that
state, and a resumed run draws on from it, bit for bit. Batches drawn ahead and not used are dropped.

If the prefetcher stops or fails, next() draws the batch in this process from the run's generator (the same
batch) and goes on without it. Like a worker process (minipad/workers.py), it runs in a session of its own,
ignores Ctrl-C, receives its settings as JSON and sends arrays as raw bytes (never pickle), and ends when
the training process closes its pipes or ends. It keeps at least one batch ahead, as many as the pipe's
buffer holds.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict

import numpy as np

from .workers import helper_environment, read_message, worker_code, write_message

__all__ = ["BatchPrefetcher"]


class BatchPrefetcher:
    """A process drawing the training batches of a run ahead of the steps (see the module docstring)."""

    def __init__(self, config, model_config, rng: np.random.Generator):
        from .checkpoint import pack_rng_state
        self.config, self.model_config = config, model_config
        start = json.dumps({"config": asdict(config), "model_config": asdict(model_config),
                            "rng": pack_rng_state(rng)}).encode() + b"\n"  # fails here, before any process
        apart = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        self.process = subprocess.Popen([sys.executable, "-c", worker_code("minipad.prefetch")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=helper_environment(),
                                        **apart)
        try:
            self.process.stdin.write(start)
            self.process.stdin.flush()
        except OSError:
            self.close()

    def next(self, rng: np.random.Generator):
        """(Batch, layout) of the next training batch; rng is set to the state after it."""
        from .checkpoint import unpack_rng_state
        if self.process is not None:
            try:
                message = read_message(self.process.stdout)
            except (OSError, ValueError, EOFError):
                message = None
            if message is not None and "rng" in message[0]:
                header, arrays = message
                rng.bit_generator.state = unpack_rng_state(header["rng"]).bit_generator.state
                return _batch_of(arrays)
            if message is None:  # it stopped; if drawing failed there instead, it fails here again just below
                print("minipad: the process drawing batches ahead stopped; they are drawn here from now on",
                      file=sys.stderr)
            self.close()
        return _draw(self.config, self.model_config, rng)

    def close(self) -> None:
        """Stop the prefetcher: closing both pipes ends it, even while it waits to write a batch."""
        if self.process is None:
            return
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _draw(config, model_config, rng):
    from .tasks import get_task
    from .train import draw_batch
    task = get_task(config.task)
    return draw_batch(config, model_config, task, task.tokenizer(), rng, config.split_options("train"))


def _batch_of(arrays: dict):
    """(Batch, layout) from a message's arrays."""
    from .data import Batch
    from .model import TokenLayout
    fields = {name.removeprefix("layout "): value for name, value in arrays.items() if name.startswith("layout ")}
    layout = TokenLayout(**fields) if arrays.pop("has layout").item() else None
    return Batch(arrays["ids"], arrays["targets"], arrays["mask"]), layout


def main() -> None:
    """The prefetcher process: read the run's settings, then draw and send batches until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the training process
    from .checkpoint import pack_rng_state, unpack_rng_state
    from .config import TrainConfig
    from .model import GPTConfig
    line = sys.stdin.buffer.readline()
    if not line:
        return  # the training process ended before it sent the settings
    start = json.loads(line)
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not break the messages
    config = TrainConfig(**start["config"])
    model_config = GPTConfig(**start["model_config"])
    rng = unpack_rng_state(start["rng"])
    while True:
        try:
            batch, layout = _draw(config, model_config, rng)
        except Exception:  # noqa: BLE001 -- say so; the training process then draws that batch itself, from
            _send(replies, {"failed": True}, {})  # the same state, and meets the same error there, reported
            return
        arrays = {"ids": batch.ids, "targets": batch.targets, "mask": batch.mask,
                  "has layout": np.array(layout is not None)}
        if layout is not None:
            arrays.update({f"layout {name}": value for name, value in layout._asdict().items() if value is not None})
        if not _send(replies, {"rng": pack_rng_state(rng)}, arrays):
            return  # the training process has closed the pipe: nothing left to do


def _send(replies, header, arrays) -> bool:
    """write_message; False if the pipe is closed (OSError, or ValueError for a closed file object)."""
    try:
        write_message(replies, header, arrays)
        return True
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    main()
