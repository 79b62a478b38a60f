"""A run in progress, in its own directory: the lock, the plan, the finished chunks and the checkpoints.

While a sweep runs, its directory holds a hidden ``.progress`` folder:

    lock          held (flock) by the process running the sweep, which writes its pid in it
    plan.json     the config, the command, each grid cell's layout and data fingerprint
    chunks/       one .npz per finished chunk (parameters, statuses, epochs, history)
    checkpoints/  the training state of chunks not yet finished (l2cli.training.checkpoint)

The final files are written beside it, each under a temporary name and renamed
into place, and ``.progress`` is removed last: a directory with ``.progress``
is an interrupted run, which ``l2cli sweep --resume`` continues.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..machine.files import LinkRefused, make_directories, open_directory, text, write_whole
from ..maths.network import Params
from ..training.checkpoint import Checkpoint, Damaged, read_checked, write_atomically
from ..training.train import TrainResult
from .run import PLAN, PROGRESS, check_target, read_document, replaceable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: Path) -> None:
    """Temporary files (``.NAME.tmp-PID``) and old partial directories (``.DIR.partial-PID``) of dead processes."""
    places = [directory, directory / PROGRESS / "chunks", directory / PROGRESS / "checkpoints"]
    found = [p for place in places if real_directory(directory, place) for p in place.glob(".*.tmp-*")]
    found += list(directory.parent.glob(f".{directory.name}.partial-*"))
    for path in found:
        pid = path.name.rpartition("-")[2]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def real_directory(root: Path, place: Path) -> bool:
    """Whether ``place`` is a folder reached from the run's ``root`` without a link (a link is never entered)."""
    try:
        os.close(open_directory(root, place.relative_to(root)))
        return True
    except OSError:
        return False


def refused(exc: LinkRefused) -> InputError:
    return InputError(f"{exc.filename}: {exc.strerror}")


#: plan.json's fields, and what each holds
PLAN_FIELDS = {"config": dict, "command": list, "started": str, "resumed": list, "layouts": list, "fingerprints": list}
#: a layout's choices that a pinned plan always fixes (≥ 1); its other keys are checked as the [sweep] keys they are
PINNED = ("chunk_size", "workers", "threads")


def check_plan(doc: dict, path: Path) -> dict:
    """plan.json, checked before --resume believes it: every field of the kind l2cli writes; the config valid
    (l2cli.config); one layout and one data fingerprint per grid cell, each layout's keys valid [sweep] keys
    with its chunk size, workers and threads counts ≥ 1. An InputError names the first thing wrong."""
    from ..config import Config

    def fail(what: str):
        raise InputError(f"--resume: {path}: {what}: it was not written by l2cli or is damaged")

    for key, kind in PLAN_FIELDS.items():
        if not isinstance(doc.get(key), kind):
            fail(f"{key} is missing or not {'an object' if kind is dict else kind.__name__}")
    if not all(isinstance(a, str) for a in doc["command"] + doc["resumed"]):
        fail("command or resumed holds something that is not text")
    try:
        cfg = Config.from_dict(doc["config"])
    except InputError as exc:
        fail(f"its config: {exc}")
    cells = len(cfg.cells())
    if len(doc["layouts"]) != cells or len(doc["fingerprints"]) != cells:
        fail(f"it needs one layout and one fingerprint for each of the {cells} grid cells")
    for k, layout in enumerate(doc["layouts"]):
        if not isinstance(layout, dict) or not all(isinstance(layout.get(key), int) and not isinstance(
                layout.get(key), bool) and 1 <= layout[key] <= 1_000_000 for key in PINNED):
            fail(f"layouts[{k}] has no chunk_size, workers and threads counts ≥ 1")
        try:
            Config.from_dict({**doc["config"], "sweep": {**(doc["config"].get("sweep") or {}), **layout}})
        except (InputError, TypeError) as exc:
            fail(f"layouts[{k}]: {exc}")
    for k, fingerprint in enumerate(doc["fingerprints"]):
        if not (isinstance(fingerprint, str) and len(fingerprint) == 64
                and all(c in "0123456789abcdef" for c in fingerprint)):
            fail(f"fingerprints[{k}] is not a SHA-256")
    return doc


class Journal:
    """The progress of one run in ``path``; the lock is held from ``create`` or ``reopen`` until
    ``finish`` (the run is complete) or ``release`` (it stopped, and can be resumed)."""

    def __init__(self, path: Path):
        self.path, self.progress, self.fd = Path(path), Path(path) / PROGRESS, None

    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False, data_path: str = "") -> Journal:
        """A new run in ``path``: absent or empty (or an l2cli run there, with ``overwrite``: only its files are
        removed, see rundir.replaceable), then locked."""
        path = Path(path)
        journal = cls(path)
        if overwrite and path.is_dir() and not path.is_symlink() and any(path.iterdir()):
            own = replaceable(path, data_path)  # l2cli's own run, and only l2cli's files in it, or nothing at all
            journal.lock()  # never overwrite a run another process is writing
            for child in own:
                child.unlink()
            shutil.rmtree(journal.progress / "chunks", ignore_errors=True)
            shutil.rmtree(journal.progress / "checkpoints", ignore_errors=True)
            (journal.progress / PLAN).unlink(missing_ok=True)
            remove_stale_temporaries(path)
        elif journal.progress.is_dir() and not path.is_symlink():
            journal.lock()  # a live process holding it is named here
            journal.release()
            raise InputError(f"{path} holds an interrupted run: continue it with --resume, or --overwrite it")
        else:
            check_target(path)
            remove_stale_temporaries(path)
            journal.lock()
        return journal

    @classmethod
    def reopen(cls, path: str | Path) -> Journal:
        """An interrupted run in ``path``, locked, to continue it."""
        path = Path(path)
        journal = cls(path)
        if not (journal.progress / PLAN).is_file():
            what = "a finished run" if (path / "manifest.json").is_file() else "no interrupted run"
            raise InputError(f"--resume: {path} holds {what}; there is nothing to continue")
        journal.lock()
        remove_stale_temporaries(path)
        return journal

    def lock(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            progress = open_directory(self.path, PROGRESS, create=True)  # a link at .progress is refused
        except LinkRefused as exc:
            raise refused(exc) from None
        except OSError as exc:  # a read-only or forbidden place: before anything is trained
            from ..errors import describe_os_error

            raise InputError(f"cannot write the run in {self.path}: {describe_os_error(exc)}") from None
        try:  # O_NOFOLLOW: a link planted at the lock's place is refused, never written through
            fd = os.open("lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644, dir_fd=progress)
        except OSError as exc:
            raise InputError(f"cannot lock {self.progress / 'lock'}: {exc.strerror}") from None
        finally:
            os.close(progress)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise InputError(f"{self.path} is in use by another l2cli sweep (process {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        """Let go of the lock and keep the progress: the run can be resumed."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def finish(self) -> None:
        """The final files are in place: remove the progress and let go of the lock."""
        shutil.rmtree(self.progress, ignore_errors=True)
        self.release()

    def write_plan(self, plan: dict) -> None:
        write_whole(self.progress / PLAN, text(json.dumps(plan, indent=2) + "\n"), root=self.path)

    def read_plan(self) -> dict:
        return check_plan(read_document(self.progress / PLAN), self.progress / PLAN)

    def store(self, name: str, checkpoint_s: float) -> ChunkStore:
        return ChunkStore(self.path, name, checkpoint_s)


class ChunkStore:
    """The finished chunks and the checkpoints of one part of a run (a grid cell, or one of its folds)."""

    def __init__(self, root: Path, name: str, checkpoint_s: float):
        """``root``: the run directory; its folders .progress/chunks and .progress/checkpoints are created or
        checked here, and refused when one is a link (nothing is read, written or removed through one)."""
        self.root, self.name, self.checkpoint_s = root, name, checkpoint_s
        try:
            self.chunks = make_directories(root, Path(PROGRESS, "chunks"))
            self.checkpoints = make_directories(root, Path(PROGRESS, "checkpoints"))
        except LinkRefused as exc:
            raise refused(exc) from None

    def _file(self, k: int) -> Path:
        return self.chunks / f"{self.name}-{k}.npz"

    def checkpoint(self, k: int) -> Checkpoint:
        return Checkpoint(self.checkpoints / f"{self.name}-{k}.npz", self.checkpoint_s, self.root)

    def load(self, k: int, models: int, sizes: tuple[int, ...]) -> TrainResult | None:
        """The result of chunk k, when it finished in an earlier process; None (the chunk trains again, from its
        seeds: the same bits) when there is none, or when the file is damaged or does not hold the ``models``
        networks of layer ``sizes`` the plan gives this chunk, with a line on stderr."""
        file = self._file(k)
        if not os.path.lexists(file):
            return None
        try:
            if file.is_symlink() or not file.is_file():
                raise Damaged("not a regular file")
            f = read_checked(file)
            layers = int(f["layers"])
            params = Params([f[f"W{l}"] for l in range(layers)], [f[f"b{l}"] for l in range(layers)])
            shapes = [(models, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
            if [W.shape for W in params.W] != shapes or [b.shape for b in params.b] != [s[::2] for s in shapes] \
                    or np.shape(f["epochs"]) != (models,) or np.shape(f["status"]) != (models,):
                raise Damaged(f"it does not hold the {models} networks of {'-'.join(map(str, sizes))} of its chunk")
            history = {k[len("hist."):]: f[k] for k in f if k.startswith("hist.")}
            if any(np.shape(v)[:1] != (models,) for v in history.values()):
                raise Damaged("its history is not one row per model")
            return TrainResult(params, f["epochs"], f["status"].tolist(), history,
                               f["warm"].astype(bool) if "warm" in f else None)
        except (Damaged, KeyError, ValueError, TypeError) as exc:
            sys.stderr.write(f"l2cli: the finished chunk {file.name} cannot be read back ({exc or type(exc).__name__}):"
                             " it trains again from its seeds\n")
            file.unlink(missing_ok=True)
            return None

    def save(self, k: int, trained: TrainResult) -> None:
        arrays = {"layers": np.array(len(trained.params.W)), "epochs": trained.epochs,
                  "status": np.array(trained.status, dtype=str)}
        arrays.update({f"W{l}": W for l, W in enumerate(trained.params.W)})
        arrays.update({f"b{l}": b for l, b in enumerate(trained.params.b)})
        arrays.update({f"hist.{name}": v for name, v in trained.history.items()})
        if trained.warm is not None:
            arrays["warm"] = trained.warm.astype(np.int8)
        write_atomically(self._file(k), arrays, "chunk-write", self.root)
        self.checkpoint(k).remove()
