"""Re-running a run from its manifest and comparing every number: the reproducibility check for CI.

The run is replayed with its recorded config and layout (chunk size, worker
processes and BLAS threads per grid cell), after its data is checked against
the recorded fingerprints; then every number of summary.csv, history.csv and
weights.npz is compared, |new − old| ≤ atol + rtol·|old| (NaN equals NaN).
The default tolerance, 0, asks for the same bits: what the same machine and
thread layout give.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .layout import Compute
from .rundir import Run


@dataclass
class Verification:
    """The numbers that differ (one row each) and how many numbers of each file were compared."""

    differences: pd.DataFrame
    compared: dict[str, int]


def data_file(manifest: dict) -> str:
    """A run's CSV file: data.path as given if it is there, else its recorded absolute path if that is."""
    given = manifest["config"]["data"]["path"]
    absolute = manifest.get("data", {}).get("path_absolute")
    if given and not Path(given).is_file() and absolute and Path(absolute).is_file():
        return absolute
    return given


def replay_config(run: Run) -> tuple[Config, list[Compute]]:
    """The run's config, its data file found (as given, else by its recorded absolute path), and its layouts."""
    manifest = run.manifest
    cfg = Config.from_dict(manifest["config"])
    cfg.sweep.executor, cfg.sweep.address = "local", ""  # replayed here: the numbers do not depend on the executor
    if cfg.data.path:
        cfg.data.path = data_file(manifest)
    layouts = [Compute(cfg.sweep.engine, g["layout"]["chunk_size"], cfg.sweep.memory_mb, g["layout"]["workers"],
                       g["layout"]["threads"]) for g in manifest["groups"]]
    return cfg, layouts


def as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as it reads back from its CSV file."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def close(old: np.ndarray, new: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    both_nan = np.isnan(old) & np.isnan(new)
    with np.errstate(invalid="ignore"):
        near = (old == new) | (np.abs(new - old) <= atol + rtol * np.abs(old))
    return both_nan | near


def table_differences(name: str, old: pd.DataFrame, new: pd.DataFrame, keys: list[str], rtol: float,
                      atol: float) -> tuple[list[dict], int]:
    """Rows for the cells of two tables with the same rows that differ; and how many numbers were compared."""
    if list(old.columns) != list(new.columns) or len(old) != len(new):
        return [{"file": name, "column": "(shape)", "old": f"{len(old)}×{old.shape[1]}",
                 "new": f"{len(new)}×{new.shape[1]}"}], 0
    rows, compared = [], 0
    for column in (c for c in old.columns if c not in keys):
        a, b = old[column], new[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            same = close(a.to_numpy(float), b.to_numpy(float), rtol, atol)
        else:
            same = (a.astype(str) == b.astype(str)).to_numpy()
        compared += len(a)
        for i in np.flatnonzero(~same):
            rows.append({"file": name, **old.loc[i, keys].to_dict(), "column": column, "old": a[i], "new": b[i]})
    return rows, compared


def weight_differences(old: dict, new: dict, rtol: float, atol: float,
                       cells: list[dict] | None = None) -> tuple[list[dict], int]:
    """Rows of the models whose arrays differ, each named by λ, seed and (``cells``: the manifest's groups'
    axes, by the ``group`` index) its grid cell; and how many numbers were compared."""
    rows, compared = [], 0
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new or old[key].shape != new[key].shape:
            rows.append({"file": "weights.npz", "column": key, "old": str(getattr(old.get(key), "shape", None)),
                         "new": str(getattr(new.get(key), "shape", None))})
            continue
        a, b = old[key].astype(float), new[key].astype(float)
        compared += a.size
        bad = ~close(a, b, rtol, atol)
        for m in np.unique(np.nonzero(bad)[0]) if a.ndim else []:
            worst = np.argmax(np.where(bad[m], np.abs(b[m] - a[m]), -1))
            cell = cells[int(old["group"][m])] if cells and "group" in old else {}
            rows.append({"file": "weights.npz", "lambda": float(old["lambda"][m]), "seed": int(old["seed"][m]),
                         **cell, "column": f"{key}[{m}] ({int(bad[m].sum())} of {bad[m].size} differ)",
                         "old": a[m].ravel()[worst], "new": b[m].ravel()[worst]})
    return rows, compared


def verify(path: str | Path, rtol: float = 0.0, atol: float = 0.0, progress=None) -> Verification:
    """Replay the run at ``path`` and compare every number (see the module docstring)."""
    from .runner import run_experiment

    old = Run.load(path)
    cfg, layouts = replay_config(old)
    recorded = [group["fingerprint_sha256"] for group in old.manifest["groups"]]
    new = run_experiment(cfg, progress=progress, layouts=layouts, expected_fingerprints=recorded,
                         expected_data=f"the data of run {old.path}")
    keys = ["lambda", "seed", *old.grid_keys]
    rows, compared = [], {}
    for name, extra in (("summary", []), ("history", ["epoch"])):
        found, n = table_differences(f"{name}.csv", old.table(name), as_written(new.table(name)), keys + extra,
                                     rtol, atol)
        rows += found
        compared[f"{name}.csv"] = n
    weights_file = Path(path) / "weights.npz"
    if weights_file.is_file():
        with np.load(weights_file, allow_pickle=False) as stored:
            found, compared["weights.npz"] = weight_differences(dict(stored), new.weights, rtol, atol,
                                                                [g["axes"] for g in old.manifest["groups"]])
        rows += found
    differences = pd.DataFrame(rows)
    if len(differences):
        old_v = pd.to_numeric(differences["old"], errors="coerce")
        new_v = pd.to_numeric(differences["new"], errors="coerce")
        differences["rel_diff"] = (new_v - old_v).abs() / old_v.abs()
    return Verification(differences, compared)
