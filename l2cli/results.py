"""Writing a run directory: the one place l2cli writes results.

A run directory holds summary.csv, history.csv, manifest.json and
weights.npz. It is built in a hidden sibling directory and renamed into place
only when every file is complete, so an interrupted or failed run leaves no
half-written directory behind.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from .errors import InputError

FILES = ("summary.csv", "history.csv", "manifest.json", "weights.npz")


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


def weight_arrays(result) -> dict[str, np.ndarray]:
    """weights.npz content: lambda and seed (M,), W1..WL (M, n_in, n_out), b1..bL (M, n_out); row m = summary row m."""
    arrays = {"lambda": np.array([p.lam for p in result.points]),
              "seed": np.array([p.seed for p in result.points])}
    for l, (W, b) in enumerate(zip(result.params.W, result.params.b), start=1):
        arrays[f"W{l}"] = W
        arrays[f"b{l}"] = b
    return arrays


def write_run(path: str | Path, result, manifest: dict, weights: bool = True) -> Path:
    """Write the run files of a SweepResult atomically into ``path``."""
    path = check_run_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        result.summary.to_csv(tmp / "summary.csv", index=False)
        result.history.to_csv(tmp / "history.csv", index=False)
        if weights:
            np.savez(tmp / "weights.npz", **weight_arrays(result))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
        if path.exists():
            path.rmdir()
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")
