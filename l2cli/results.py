"""Writing a run directory: the one place l2cli writes results.

A run directory holds summary.csv, history.csv, aggregate.csv, manifest.json,
selection.json, weights.npz and, with cross-validation, cv.csv. It is built
in a hidden sibling directory and renamed into place
only when every file is complete, so an interrupted or failed run leaves no
half-written directory behind.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

def default_run_dir(dataset: str, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{stamp}-{dataset}"
    k = 1
    while path.exists():
        k += 1
        path = Path(root) / f"{stamp}-{dataset}-{k}"
    return path


def check_run_dir(path: str | Path) -> Path:
    """Fail early, before any training, if results could not be written to ``path``."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(f"output directory {path} already exists and is not empty; choose another --out")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot create output directory {path}: {parent} is not writable")
    return path


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("l2cli", "numpy", "scikit-learn", "scipy", "pandas", "click", "tabulate", "threadpoolctl"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_run(path: str | Path, tables: dict[str, pd.DataFrame], documents: dict[str, dict],
              arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write a run directory atomically: CSV tables, JSON documents and an optional weights.npz."""
    path = check_run_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name, frame in tables.items():
            frame.to_csv(tmp / name, index=False)
        for name, doc in documents.items():
            (tmp / name).write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
        if arrays is not None:
            np.savez(tmp / "weights.npz", **arrays)
        if path.exists():
            path.rmdir()
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


@dataclass
class RunFiles:
    """The tables and documents of a run directory, as written by :func:`write_run`."""

    path: Path
    summary: pd.DataFrame
    history: pd.DataFrame
    aggregate: pd.DataFrame
    selection: dict
    manifest: dict

    @property
    def axes(self) -> list[str]:
        return list(self.manifest.get("config", {}).get("grid", {}))


def read_run(path: str | Path) -> RunFiles:
    """Read a run directory back; a missing or foreign directory is an InputError."""
    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise InputError(f"{path} is not an l2cli run directory (no manifest.json)")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        selection = json.loads((path / "selection.json").read_text())
        frames = {name: pd.read_csv(path / f"{name}.csv") for name in ("summary", "history", "aggregate")}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read run {path}: {exc}") from None
    return RunFiles(path, frames["summary"], frames["history"], frames["aggregate"], selection, manifest)


def list_runs(root: str | Path) -> list[RunFiles]:
    """Every run directory directly inside ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"no such directory: {root}")
    runs = []
    for child in sorted(root.iterdir()):
        if (child / "manifest.json").is_file() and not child.name.startswith("."):
            try:
                runs.append(read_run(child))
            except InputError:
                continue
    return sorted(runs, key=lambda r: r.manifest.get("started", ""))


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")
