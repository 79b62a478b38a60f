"""The whole state of a training run as arrays, written at most every few seconds and read back to
continue bit for bit: parameters, λ, seeds, optimizer state, the shuffling streams, the stopping rules'
memory, the history so far and the final parameters of the models that already stopped. An L-BFGS chunk
(l2cli.lbfgs) keeps less: the models it has minimized; the model in progress starts again.

A checkpoint is one .npz file written under a temporary name and renamed into place, so a file that
exists is complete; a crash while writing leaves the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from . import faults
from .network import Params


def _params(prefix: str, params: Params) -> dict[str, np.ndarray]:
    out = {f"{prefix}.W{l}": W for l, W in enumerate(params.W)}
    out.update({f"{prefix}.b{l}": b for l, b in enumerate(params.b)})
    return out


def _read_params(prefix: str, arrays, layers: int) -> Params:
    return Params([arrays[f"{prefix}.W{l}"].copy() for l in range(layers)],
                  [arrays[f"{prefix}.b{l}"].copy() for l in range(layers)])


def snapshot(training, epoch: int) -> dict[str, np.ndarray]:
    """The state of ``training`` (a l2cli.train.Training) after ``epoch``, as named arrays."""
    stack, stop, opt_state = training.stack, training.stopping, training.stack.optimizer.state_dict()
    records = training.history.records
    meta = {"epoch": epoch, "layers": len(stack.params.W), "status": stop.status.tolist(),
            "streams": {str(s): rng.bit_generator.state for s, rng in training.batches.streams.items()},
            "counters": {name: value for name, value in opt_state.items() if name not in ("lam", "state")},
            "state_shape": [len(group) for group in opt_state["state"]],
            "records": [[e, len(models)] for e, models, _ in records], "best": stop.best is not None}
    out = {"meta": np.array(json.dumps(meta)), "lam": stack.lam, "seeds": stack.seeds, "index": stack.index,
           "epochs": training.epochs, "previous_J": stop.previous_J, "start_J": stop.start_J,
           "best_val": stop.best_val, "best_epoch": stop.best_epoch,
           **_params("stack", stack.params), **_params("final", training.final)}
    if stop.best is not None:
        out.update(_params("best", stop.best))
    out.update({f"opt.{g}.{i}": a for g, group in enumerate(opt_state["state"]) for i, a in enumerate(group)})
    out.update(_history(records))
    return out


def restore(training, arrays) -> int:
    """Put the state of ``arrays`` (from snapshot) into a freshly built ``training``; returns its epoch."""
    meta = json.loads(str(arrays["meta"]))
    layers, stack, stop = meta["layers"], training.stack, training.stopping
    stack.params, stack.lam = _read_params("stack", arrays, layers), arrays["lam"].copy()
    stack.seeds, stack.index = arrays["seeds"].copy(), arrays["index"].copy()
    state = [[arrays[f"opt.{g}.{i}"] for i in range(n)] for g, n in enumerate(meta["state_shape"])]
    stack.optimizer.load_state_dict({"lam": stack.lam, "state": state, **meta["counters"]})
    for seed, state in meta["streams"].items():
        training.batches.streams[int(seed)].bit_generator.state = state
    training.final, training.epochs = _read_params("final", arrays, layers), arrays["epochs"].copy()
    stop.status = np.array(meta["status"], dtype=object)
    for name in ("previous_J", "start_J", "best_val", "best_epoch"):
        setattr(stop, name, arrays[name].copy())
    stop.best = _read_params("best", arrays, layers) if meta["best"] else None
    training.history.records = _records(arrays, meta["records"])
    return meta["epoch"]


def minimization_snapshot(run, done: int) -> dict[str, np.ndarray]:
    """The state of an L-BFGS chunk (a l2cli.lbfgs.Minimization) once its first ``done`` models are minimized:
    their parameters, iterations, statuses and history. Its other models start again from their seeds."""
    records = run.history.records
    meta = {"optimizer": "lbfgs", "done": done, "layers": len(run.final.W), "status": list(run.status),
            "records": [[e, len(models)] for e, models, _ in records]}
    out = {"meta": np.array(json.dumps(meta)), "iterations": run.iterations, **_params("final", run.final)}
    out.update(_history(records))
    return out


def minimization_restore(run, arrays) -> int:
    """Put the state of ``arrays`` (from minimization_snapshot) into ``run``; returns how many models it holds."""
    meta = json.loads(str(arrays["meta"]))
    run.final, run.iterations = _read_params("final", arrays, meta["layers"]), arrays["iterations"].copy()
    run.status = list(meta["status"])
    run.history.records = _records(arrays, meta["records"])
    return meta["done"]


def _history(records: list) -> dict[str, np.ndarray]:
    """The history's records (l2cli.train.History) as arrays: the models of every record, then each metric."""
    if not records:
        return {}
    out = {"hist.models": np.concatenate([models for _, models, _ in records])}
    for name in records[0][2]:
        out[f"hist.{name}"] = np.concatenate([stats[name] for _, _, stats in records])
    return out


def _records(arrays, shape: list[list[int]]) -> list:
    names = [k[len("hist."):] for k in arrays if k.startswith("hist.") and k != "hist.models"]
    records, at = [], 0
    for epoch, n in shape:
        stats = {name: arrays[f"hist.{name}"][at:at + n].copy() for name in names}
        records.append((epoch, arrays["hist.models"][at:at + n].copy(), stats))
        at += n
    return records


def write_atomically(path: Path, arrays: dict[str, np.ndarray], fault: str) -> None:
    """np.savez to a temporary name beside ``path``, then rename: a file at ``path`` is always whole."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    faults.point(fault)
    os.replace(tmp, path)


class Paused(Exception):  # noqa: N818 - not an error: a segment of training ended
    """Raised inside training by a Segment whose time is up; carries the state to continue from."""

    def __init__(self, state: dict[str, np.ndarray]):
        super().__init__("paused")
        self.state = state


class Segment:
    """A checkpoint kept by the caller instead of a file: training starts from ``state`` (None: from the
    beginning) and, once ``every_s`` seconds have passed, stops at the end of an epoch by raising Paused
    with its state. A cluster worker trains a chunk in such segments and the driver writes the states."""

    def __init__(self, state: dict[str, np.ndarray] | None, every_s: float):
        self.state, self.every_s, self.last = state, every_s, time.monotonic()

    def read(self):
        self.last = time.monotonic()
        return self.state

    def maybe_write(self, training, epoch: int) -> None:
        if time.monotonic() - self.last >= self.every_s:
            raise Paused(training.snapshot(epoch))


class Checkpoint:
    """Where one chunk's training state is kept, and how often (seconds) it is written."""

    def __init__(self, path: Path, every_s: float):
        self.path, self.every_s, self.last = Path(path), every_s, time.monotonic()

    def read(self):
        """The saved state (an NpzFile), or None when there is none."""
        self.last = time.monotonic()
        return np.load(self.path, allow_pickle=False) if self.path.is_file() else None

    def write(self, state: dict[str, np.ndarray]) -> None:
        write_atomically(self.path, state, "checkpoint-write")

    def maybe_write(self, training, epoch: int) -> None:
        """Write ``training.snapshot(epoch)`` when every_s seconds have passed since the last write."""
        if time.monotonic() - self.last >= self.every_s:
            write_atomically(self.path, training.snapshot(epoch), "checkpoint-write")
            self.last = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
