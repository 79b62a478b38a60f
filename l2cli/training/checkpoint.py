"""A checkpoint: the state of a training run, written at most every few seconds and read back to continue bit
for bit. What the state holds is each component's own business (their ``state_dict()``: the active stack
and its optimizer, the stopping rules, the shuffling streams, the history; an L-BFGS chunk keeps the models
it has minimized); this module only serializes a state dict and never looks inside one.

A state dict is a tree of dicts and lists whose leaves are numpy arrays or JSON values. :func:`pack` turns
it into named arrays for one .npz file: every array under its path in the tree, and the tree itself, with
each array replaced by a reference, as JSON. The file is written under a temporary name and renamed into
place, so a file that exists is complete; a crash while writing leaves the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from ..machine.files import write_whole
from . import faults

#: the member of a checkpoint that holds the tree of its state dict
TREE = "__tree__"


def pack(state: dict) -> dict[str, np.ndarray]:
    """A state dict as named arrays (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}

    def walk(value, path: str):
        if isinstance(value, np.ndarray):
            arrays[path] = value
            return {"__array__": path}
        if isinstance(value, dict):
            return {"__dict__": {str(k): walk(v, f"{path}.{k}") for k, v in value.items()}}
        if isinstance(value, (list, tuple)):
            return {"__list__": [walk(v, f"{path}.{i}") for i, v in enumerate(value)]}
        return value.item() if isinstance(value, np.generic) else value

    arrays[TREE] = np.array(json.dumps(walk(state, "s")))
    return arrays


def unpack(arrays) -> dict:
    """The state dict of :func:`pack`'s arrays (a dict or an open .npz file), every array a copy."""
    def build(node):
        if isinstance(node, dict):
            if "__array__" in node:
                return np.array(arrays[node["__array__"]])
            if "__dict__" in node:
                return {k: build(v) for k, v in node["__dict__"].items()}
            if "__list__" in node:
                return [build(v) for v in node["__list__"]]
        return node

    return build(json.loads(str(arrays[TREE])))


#: the member of a progress file (checkpoint, finished chunk) that holds the SHA-256 of all the others
CHECKSUM = "__sha256__"


def checksum(arrays) -> str:
    """SHA-256 over every member but CHECKSUM: its name, dtype, shape and bytes, in name order."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(k for k in arrays if k != CHECKSUM):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Damaged(Exception):
    """A progress file that cannot be read back whole (truncated, edited, or of an older l2cli)."""


def read_checked(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a progress file written by write_atomically, whose checksum they must match (Damaged
    otherwise); nothing pickled is loaded."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise Damaged(type(exc).__name__) from None
    if CHECKSUM not in arrays or str(arrays[CHECKSUM]) != checksum(arrays):
        raise Damaged("checksum mismatch")
    return arrays


def write_atomically(path: Path, arrays: dict[str, np.ndarray], fault: str, root: Path | None = None) -> None:
    """np.savez, with a checksum member, written whole (l2cli.machine.files): a file at ``path`` is always
    whole, and a temporary file of a failed write (a full disk) is removed. ``root``: the run directory,
    below which no folder on the way may be a link."""
    def write(fh) -> None:
        np.savez(fh, **arrays, **{CHECKSUM: np.array(checksum(arrays))})

    write_whole(path, write, lambda: faults.point(fault), root=root)


class Paused(Exception):  # noqa: N818 - not an error: a segment of training ended
    """Raised inside training by a Segment whose time is up; carries the state to continue from."""

    def __init__(self, state: dict):
        super().__init__("paused")
        self.state = state


class Segment:
    """A checkpoint kept by the caller instead of a file: training starts from ``state`` (None: from the
    beginning) and, once ``every_s`` seconds have passed, stops at the end of an epoch by raising Paused
    with its state. A cluster worker trains a chunk in such segments and the driver writes the states."""

    def __init__(self, state: dict | None, every_s: float):
        self.state, self.every_s, self.last = state, every_s, time.monotonic()

    def read(self):
        self.last = time.monotonic()
        return self.state

    def maybe_write(self, training, epoch: int) -> None:
        if time.monotonic() - self.last >= self.every_s:
            raise Paused(training.snapshot(epoch))


class Checkpoint:
    """Where one chunk's training state is kept, and how often (seconds) it is written."""

    def __init__(self, path: Path, every_s: float, root: Path | None = None):
        self.path, self.every_s, self.last, self.root = Path(path), every_s, time.monotonic(), root

    def read(self) -> dict | None:
        """The saved state dict, or None when there is none, or when the file cannot be read back (damaged, or
        written by an older l2cli): the chunk then starts again from its seeds, which gives the same bits,
        and a line on stderr says so."""
        self.last = time.monotonic()
        if not os.path.lexists(self.path):
            return None
        try:
            if self.path.is_symlink() or not self.path.is_file():
                raise Damaged("not a regular file")
            return unpack(read_checked(self.path))
        except (Damaged, ValueError, KeyError, TypeError) as exc:
            sys.stderr.write(f"l2cli: the checkpoint {self.path.name} cannot be read back ({exc or type(exc).__name__})"
                             ": its chunk starts again from its seeds\n")
            self.path.unlink(missing_ok=True)
            return None

    def write(self, state: dict) -> None:
        write_atomically(self.path, pack(state), "checkpoint-write", self.root)

    def maybe_write(self, training, epoch: int) -> None:
        """Write ``training.snapshot(epoch)`` when every_s seconds have passed since the last write."""
        if time.monotonic() - self.last >= self.every_s:
            self.write(training.snapshot(epoch))
            self.last = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
