"""A run and its directory: the one type that holds a run's tables, documents and weights.

A run directory holds summary.csv, history.csv, aggregate.csv, features.csv,
manifest.json, selection.json, weights.npz and, with cross-validation, cv.csv. :meth:`Run.save`
writes each file whole, under a temporary name renamed into place
(l2cli.machine.files.write_whole), and a run in progress keeps its journal in
.progress until every file is there (l2cli.rundir.journal), so an interrupted or
failed write leaves no half-written file behind. :meth:`Run.load` reads the two JSON documents at
once and each table only when it is first asked for, so reading the selected λ
never imports pandas.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..machine.files import text, write_whole
from ..training import faults

#: The folder in a run directory that holds a run in progress (l2cli.rundir.journal).
PROGRESS = ".progress"

#: The tables of a run, each written as NAME.csv; cv only with cross-validation.
TABLES = ("summary", "history", "aggregate", "features", "cv")

#: Every file l2cli writes in a run directory: the tables, the two documents, the weights, the default picture.
OWN_FILES = (*(f"{t}.csv" for t in TABLES), "manifest.json", "selection.json", "weights.npz", "SHA256SUMS",
             "plot.png", "report.html")

#: What each file of a run directory holds, one line each (docs/reference/output-files.md is made from these).
FILE_HELP = {
    "summary.csv": "one row per (λ, seed) and grid cell: the final losses, penalty, weight norms, metrics, status",
    "history.csv": "one row per (λ, seed, epoch) recorded (train.history_every): the learning curves",
    "aggregate.csv": "one row per λ and grid cell: the means over seeds with 95 % intervals, the selected row",
    "features.csv": "one row per (λ, seed, input feature): the norm of the feature's first-layer weights",
    "cv.csv": "with sweep.cv: one row per (λ, seed, fold): each fold's validation loss",
    "manifest.json": "the resolved config, the command, the environment, the layout, the data's fingerprint",
    "selection.json": "the selected λ, the rule and the evidence it used, or why none was selected",
    "weights.npz": "every model's final weights and biases, row m of each array the m-th row of summary.csv",
    "SHA256SUMS": "the SHA-256 of every file above that the run wrote, last (sha256sum -c SHA256SUMS checks them)",
    "plot.png": "written by l2cli plot when no -o is given",
    "report.html": "written by l2cli report when no -o is given: the whole run as one self-contained page",
}
assert set(FILE_HELP) == set(OWN_FILES)

#: What the progress folder of a run in progress holds (l2cli.rundir.journal).
#: The document of a run in progress: its config, command, layouts and data fingerprints (l2cli.rundir.journal).
PLAN = "plan.json"
PROGRESS_FILES = ("lock", PLAN, "chunks", "checkpoints")


def plan_file(run_dir: str | Path) -> Path:
    """Where the plan of a run in progress in ``run_dir`` is."""
    return Path(run_dir) / PROGRESS / PLAN


@dataclass
class Run:
    """A run, in memory (after training) or read from its directory (``path``)."""

    manifest: dict
    selection: dict
    path: Path | None = None
    tables: dict[str, Any] = field(default_factory=dict)  # name -> pandas DataFrame, or None when absent
    weights: dict[str, Any] | None = None  # the arrays of weights.npz, by key
    data: str | None = None  # the run's data file where it is now (--data), checked against its fingerprint

    @property
    def summary(self):
        return self.table("summary")

    @property
    def history(self):
        return self.table("history")

    @property
    def aggregate(self):
        return self.table("aggregate")

    @property
    def features(self):
        return self.table("features")

    @property
    def cv(self):
        return self.table("cv")

    @property
    def loss_units(self) -> str | None:
        """What a regression run's losses are measured in, when its target was standardized: said beside
        every table of losses (None for classification, or a target left in its own units)."""
        data = self.manifest.get("data") or {}
        scale, mean = data.get("target_scale"), data.get("target_mean")
        if data.get("task") != "regression" or not isinstance(scale, (int, float)) or scale == 1.0 \
                or not isinstance(mean, (int, float)):
            return None
        return (f"losses are in standardized target units: the squared error of (y − {mean:.4g}) / {scale:.4g}, "
                f"the training rows' mean and standard deviation; × {scale ** 2:.4g} (= {scale:.4g}²) gives the "
                "target's own units; R² has none")

    @property
    def grid_keys(self) -> list[str]:
        """The extra sweep axes ("section.key"), each a column of every table."""
        return list(self.manifest.get("config", {}).get("grid", {}))

    @property
    def seconds(self) -> float:
        return float(self.manifest.get("seconds", 0.0))

    @property
    def failed(self) -> bool:
        """True when any model diverged (its numbers are NaN/inf in the tables)."""
        return bool((self.summary["status"] == "diverged").any())

    def table(self, name: str):
        """A table by name, read from the directory the first time it is asked for."""
        if name not in self.tables:
            self.tables[name] = self._read_table(name)
        return self.tables[name]

    def _read_table(self, name: str):
        from .files import read_run_table

        file = None if self.path is None else self.path / f"{name}.csv"
        if file is None or not os.path.lexists(file):
            if name in ("cv", "features"):  # cv: without cross-validation; features: runs before features.csv
                return None
            raise InputError(f"run {self.path} has no {name}.csv")
        table = read_run_table(file, name)
        self._check_rows(name, table, file)
        return table

    def _check_rows(self, name: str, table, file: Path) -> None:
        """The tables agree with each other: summary.csv has a row per model of the manifest, aggregate.csv a
        row for every λ of the summary, and no table a λ the summary lacks (a truncated or edited file is
        refused here, not drawn or compared half)."""
        if name == "summary":
            models = self.manifest.get("models")
            if isinstance(models, int) and len(table) != models:
                raise InputError(f"{file} has {len(table):,} rows for the run's {models:,} models: truncated or "
                                 "edited")
            return
        if "lambda" not in table:
            return
        have, known = set(table["lambda"].tolist()), set(self.summary["lambda"].tolist())
        if have - known:
            raise InputError(f"{file} has λ {min(have - known):g}, which summary.csv lacks: edited or damaged")
        if name == "aggregate" and have != known:
            raise InputError(f"{file} lacks λ {min(known - have):g} of summary.csv: truncated or edited")

    def read_weights(self) -> dict:
        """The arrays of weights.npz (read and checked once; see l2cli.rundir.files.read_weights)."""
        from .files import read_weights

        if self.weights is None:
            file = self.path / "weights.npz"
            if not os.path.lexists(file):
                raise InputError(f"run {self.path} has no weights.npz (it ran with output.weights = false)")
            self.weights = read_weights(file, len(self.summary))
        return self.weights

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Read a run directory; a missing or foreign directory is an InputError."""
        path = Path(path)
        if (path / PROGRESS).is_dir():
            raise InputError(f"{path} is a run in progress or interrupted: l2cli sweep --resume --out {path}")
        if not os.path.lexists(path / "manifest.json"):  # a link or a device there is refused by read_document
            raise InputError(f"{path} is not an l2cli run directory (no manifest.json)")
        from .files import check_manifest, check_selection

        manifest = check_manifest(read_document(path / "manifest.json"), path / "manifest.json")
        return cls(manifest, check_selection(read_document(path / "selection.json"), path / "selection.json"), path)

    @staticmethod
    def list(root: str | Path, log=None) -> list[Run]:
        """Every readable run directory directly inside ``root``, oldest first; ``log`` is told, one line each,
        of a directory with a manifest.json that cannot be read (why), which is left out."""
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"no such directory: {root}")
        runs = []
        for child in sorted(root.iterdir()):
            if os.path.lexists(child / "manifest.json") and not child.name.startswith(".") and child.is_dir():
                try:
                    runs.append(Run.load(child))
                except InputError as exc:
                    if log is not None:
                        log(f"l2cli: {child.name} left out: {exc}")
        return sorted(runs, key=lambda r: r.manifest.get("started", ""))

    def save(self, path: str | Path, weights: bool = True) -> Path:
        """Write the files: the tables, manifest.json, selection.json and (unless ``weights`` is false)
        weights.npz, each under a temporary name and renamed into place, then SHA256SUMS of them
        (l2cli.rundir.checksums). ``path`` is a new or empty
        directory, or a run in progress (its .progress, l2cli.rundir.journal)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if any(c.name != PROGRESS for c in path.iterdir()) and not (path / PROGRESS).is_dir():
            raise InputError(f"output directory {path} already exists and is not empty; choose another --out")
        from . import checksums

        written = []
        for name, write in self._files(weights):
            write_whole(path / name, write, root=path)
            written.append(name)
            faults.point("final-write")
        write_whole(path / checksums.NAME, text(checksums.text(path, written)), root=path)
        self.path = path
        return path

    def _files(self, weights: bool):
        """(file name, a function writing it to a given binary file), in the order they are written."""
        from .formats import spreadsheet_safe

        files = [(f"{name}.csv", lambda fh, f=frame: spreadsheet_safe(f).to_csv(fh, index=False, encoding="utf-8"))
                 for name in TABLES if (frame := self.tables.get(name)) is not None]
        files += [(f"{name}.json", text(json.dumps(doc, indent=2, default=_json_default) + "\n"))
                  for name, doc in (("selection", self.selection), ("manifest", self.manifest))]
        if weights and self.weights is not None:
            files.append(("weights.npz", lambda fh: _savez(fh, self.weights)))
        return files


#: The largest JSON document of a run directory read (a manifest of a large grid is a few MiB).
MAX_DOCUMENT_BYTES = 64 * 2**20


def read_document(path: Path) -> dict:
    """A JSON document of a run directory, checked before it is believed: a regular file (not a link, a FIFO
    or a device), at most MAX_DOCUMENT_BYTES, whose content is a JSON object; an InputError naming the
    file and what is wrong otherwise. Its content is never echoed."""
    from .files import regular_file

    regular_file(path, MAX_DOCUMENT_BYTES, "a run's document may be")
    try:
        with open(path, "rb") as fh:
            doc = json.loads(fh.read(MAX_DOCUMENT_BYTES + 1).decode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({type(exc).__name__} at "
                         f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})") from None
    except RecursionError:
        raise InputError(f"{path} is nested too deeply to be a run's document") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path} holds a JSON {type(doc).__name__}, not the object l2cli writes")
    return doc


def _savez(fh, arrays: dict) -> None:
    """np.savez into an open file (given a name, np.savez would add .npz to one without it)."""
    import numpy as np

    np.savez(fh, **arrays)


def default_path(dataset: str, root: str | Path = "runs") -> Path:
    """A new, empty directory runs/<date>-<time>-<dataset>, or -2, -3, … when that name is taken: each name is
    claimed by creating it (mkdir fails on a name another sweep created first), so any number of sweeps
    started in the same second get a directory each. The caller removes it if the sweep writes nothing."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the runs directory {root}: {exc.strerror}") from None
    for k in range(1, 10_000):
        path = root / (f"{stamp}-{dataset}" if k == 1 else f"{stamp}-{dataset}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(f"cannot create output directory {path}: {exc.strerror}") from None
    raise InputError(f"{root} holds 9,999 runs named {stamp}-{dataset}: give --out")


def check_target(path: str | Path) -> Path:
    """Fail early, before any training, if a run could not be written to ``path``: it must not be a file,
    a symbolic link or a non-empty directory, every existing component above it must be a directory,
    and a directory must really be creatable where it goes."""
    path = Path(path)
    try:
        return _check_target(path)
    except OSError as exc:  # a name too long, a component that cannot be looked at
        from ..errors import describe_os_error

        raise InputError(f"cannot create output directory {path}: {describe_os_error(exc)}") from None


def _check_target(path: Path) -> Path:
    if path.is_symlink():
        raise InputError(f"output directory {path} is a symbolic link; give the directory itself")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(f"output directory {path} already exists and is not empty; choose another --out")
    parent = path.parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot create output directory {path}: {parent} is not a directory")
    try:  # permissions are not enough (read-only or special file systems): create a directory there
        probe = Path(tempfile.mkdtemp(prefix=".l2cli-probe-", dir=parent))
        probe.rmdir()
    except OSError as exc:
        raise InputError(f"cannot create output directory {path}: {parent} is not writable ({exc.strerror})") from None
    return path


def is_run_directory(path: Path) -> bool:
    """Whether ``path`` was written by l2cli: a manifest of l2cli's, or the plan of a run in progress."""
    manifest, plan = path / "manifest.json", plan_file(path)
    for marker, key in ((manifest, "l2cli_manifest"), (plan, "config")):
        try:
            if marker.is_file() and not marker.is_symlink() and marker.stat().st_size < 2**27:
                doc = json.loads(marker.read_text())
                if isinstance(doc, dict) and key in doc:
                    return True
        except (OSError, ValueError, RecursionError):
            continue
    return False


def replaceable(path: str | Path, data_path: str = "") -> list[Path]:
    """What ``--overwrite`` removes in ``path``: the files l2cli writes there, and nothing else. An InputError,
    with nothing removed, when ``path`` is not an l2cli run directory, holds anything l2cli did not write or a
    symbolic link (never followed, never removed), or would lose the input data file."""
    path = Path(path)
    if path.is_symlink():
        raise InputError(f"--overwrite: {path} is a symbolic link; give the run directory itself")
    if not path.exists():
        return []
    if not path.is_dir():
        raise InputError(f"--overwrite: {path} is a file, not a run directory; choose another --out")
    entries = sorted(path.iterdir())
    if not entries:
        return []
    if not is_run_directory(path):
        names = ", ".join(e.name for e in entries[:5]) + (", …" if len(entries) > 5 else "")
        raise InputError(f"--overwrite: {path} is not an l2cli run directory (it holds {names}); l2cli replaces only "
                         "its own runs: choose another --out")
    progress = path / PROGRESS
    inside = sorted(progress.iterdir()) if progress.is_dir() and not progress.is_symlink() else []
    links = [e for e in [*entries, *inside] if e.is_symlink()]
    if links:
        raise InputError(f"--overwrite: {path} holds a symbolic link, {links[0].relative_to(path)}: l2cli neither "
                         "follows nor removes links; remove it yourself or choose another --out")
    foreign = [e.name for e in entries if e.name not in (*OWN_FILES, PROGRESS) and not _temporary(e.name)]
    foreign += [f"{PROGRESS}/{e.name}" for e in inside if e.name not in PROGRESS_FILES and not _temporary(e.name)]
    if foreign:
        raise InputError(f"--overwrite: {path} holds files l2cli did not write ({', '.join(foreign[:5])}"
                         f"{', …' if len(foreign) > 5 else ''}): move them, or choose another --out")
    own = [e for e in entries if e.name in OWN_FILES]
    if data_path and Path(data_path).resolve() in {e.resolve() for e in own}:
        raise InputError(f"--overwrite would remove the input data {data_path}: keep the data outside the run "
                         "directory")
    dirs = [e.name for e in own if e.is_dir()]
    if dirs:
        raise InputError(f"--overwrite: {path}/{dirs[0]} is a directory where l2cli writes a file; remove it "
                         "yourself or choose another --out")
    return own


def _temporary(name: str) -> bool:
    """l2cli's temporary files: .NAME.tmp-PID."""
    return name.startswith(".") and name.rpartition(".tmp-")[2].isdigit()


def _json_default(obj):
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):  # numpy arrays
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")
