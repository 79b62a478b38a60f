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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config
from ..machine.cores import usable_cores
from ..rundir.run import Run
from ..sweeps.layout import Compute, Layout

#: verify's levels, strictest first
LEVELS = ("exact", "numbers", "conclusions")

#: the tolerances of the numbers level where none is given: |new − old| ≤ atol + rtol·|old|
NUMBERS_RTOL, NUMBERS_ATOL = 1e-6, 1e-12


@dataclass
class Verification:
    """What a replay found: the numbers that differ (one row each), how many numbers of each file were
    compared, the level asked for, and (level conclusions) one row per check with its verdict."""

    differences: pd.DataFrame
    compared: dict[str, int]
    level: str = "exact"
    conclusions: pd.DataFrame | None = None

    @property
    def passed(self) -> bool:
        if self.level == "conclusions":
            return bool((self.conclusions["verdict"] == "pass").all())
        return len(self.differences) == 0


def parse_tolerance(text: str, counts: dict[str, int], columns=None) -> tuple[str, float]:
    """'val_loss=1e-6' -> ('val_loss', 1e-6); 'test_accuracy=1/n_test' -> one test row's worth of accuracy
    ('2/n_test': two rows). ``counts``: n_train, n_val, n_test of the run; ``columns``: the numeric columns
    the check compares (a tolerance for another would be ignored: refused)."""
    from ..errors import InputError

    column, eq, value = text.partition("=")
    column, value = column.strip(), value.strip()
    if not eq or not column or not value:
        raise InputError(f"--tol expects COLUMN=VALUE (val_loss=1e-6, test_accuracy=1/n_test), got {text!r}")
    if columns is not None and column not in columns:
        from ..config import suggest

        raise InputError(f"--tol {text}: {column!r} is not a numeric column of summary.csv or history.csv"
                         f"{suggest(column, sorted(columns))} (they are: {', '.join(sorted(columns))})")
    number, slash, part = value.partition("/")
    if slash and (part not in counts or not counts[part]):
        raise InputError(f"--tol {text}: {part!r} is not one of {', '.join(k for k in counts if counts[k])}")
    try:
        # K rows' worth: a metric over n rows moves in steps of 1/n, so |Δ| ≤ K/n is |Δ| < (K + ½)/n, which
        # the rounding of the two numbers cannot tip over
        tol = (float(number) + 0.5) / counts[part] if slash else float(value)
    except ValueError:
        raise InputError(f"--tol {text}: {value!r} is not a number or K/n_test") from None
    if not 0 <= tol < float("inf"):
        raise InputError(f"--tol {text}: a tolerance is a finite number ≥ 0")
    return column, tol


def data_file(run: Run) -> str:
    """A run's CSV file: the one given for it (``run.data``, from --data), else data.path as recorded if it is
    there (relative to the working directory), else its recorded absolute path, else its recorded path relative
    to the run directory; the recorded path when none is there (reading it then says it is missing)."""
    manifest = run.manifest
    given = manifest["config"]["data"]["path"]
    if run.data:
        return str(run.data)
    found = [given, manifest.get("data", {}).get("path_absolute")]
    relative = manifest.get("data", {}).get("path_relative_to_run")
    if relative and run.path is not None:
        found.append(str(Path(run.path) / relative))
    return next((f for f in found if f and Path(f).is_file()), given)


def replay_config(run: Run) -> tuple[Config, list[Compute]]:
    """The run's config, its data file found (see data_file), and its layouts, with the recorded worker
    processes capped by the cores this process may use (workers never change a number; a manifest's count is
    data, not an instruction)."""
    manifest = run.manifest
    cfg = Config.from_dict(manifest["config"])
    cfg.sweep.executor, cfg.sweep.address = "local", ""  # replayed here: the numbers do not depend on the executor
    if cfg.data.path:
        cfg.data.path = data_file(run)
    cores = usable_cores()
    asked = Compute(engine=cfg.sweep.engine, memory_mb=cfg.sweep.memory_mb)
    laid = [cell["layout"] for cell in manifest["cells"]]  # checked counts (l2cli.rundir.files)
    layouts = [asked.pinned(Layout(chunk_size=c["chunk_size"], workers=c["workers"], threads=c["threads"]), cores)
               for c in laid]
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
                      atol: float, tolerances: dict[str, float] | None = None) -> tuple[list[dict], int]:
    """Rows for the cells of two tables with the same rows that differ; and how many numbers were compared.
    A column named in ``tolerances`` is compared with that absolute tolerance instead of rtol and atol."""
    tolerances = tolerances or {}
    if list(old.columns) != list(new.columns) or len(old) != len(new):
        return [{"file": name, "column": "(shape)", "old": f"{len(old)}×{old.shape[1]}",
                 "new": f"{len(new)}×{new.shape[1]}"}], 0
    rows, compared = [], 0
    for column in (c for c in old.columns if c not in keys):
        a, b = old[column], new[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            r, t = (0.0, tolerances[column]) if column in tolerances else (rtol, atol)
            same = close(a.to_numpy(float), b.to_numpy(float), r, t)
        else:
            same = (a.astype(str) == b.astype(str)).to_numpy()
        compared += len(a)
        for i in np.flatnonzero(~same):
            rows.append({"file": name, **old.loc[i, keys].to_dict(), "column": column, "old": a[i], "new": b[i]})
    return rows, compared


def weight_differences(old: dict, new: dict, rtol: float, atol: float,
                       cells: list[dict] | None = None) -> tuple[list[dict], int]:
    """Rows of the models whose arrays differ, each named by λ, seed and (``cells``: the manifest's cells'
    axes, by the ``cell`` index) its grid cell; and how many numbers were compared."""
    from ..rundir.files import NETWORK

    rows, compared = [], 0
    for key in sorted(set(old) | set(new)):
        if key == NETWORK:  # text; an older run has none
            if key in old and str(old[key]) != str(new[key]):
                rows.append({"file": "weights.npz", "column": key, "old": "recorded network", "new": "another"})
            continue
        if key not in old or key not in new or old[key].shape != new[key].shape:
            rows.append({"file": "weights.npz", "column": key, "old": str(getattr(old.get(key), "shape", None)),
                         "new": str(getattr(new.get(key), "shape", None))})
            continue
        a, b = old[key].astype(float), new[key].astype(float)
        compared += a.size
        bad = ~close(a, b, rtol, atol)
        for m in np.unique(np.nonzero(bad)[0]) if a.ndim else []:
            worst = np.argmax(np.where(bad[m], np.abs(b[m] - a[m]), -1))
            cell = cells[int(old["cell"][m])] if cells and "cell" in old else {}
            rows.append({"file": "weights.npz", "lambda": float(old["lambda"][m]), "seed": int(old["seed"][m]),
                         **cell, "column": f"{key}[{m}] ({int(bad[m].sum())} of {bad[m].size} differ)",
                         "old": a[m].ravel()[worst], "new": b[m].ravel()[worst]})
    return rows, compared


def verify(path: str | Path, rtol: float | None = None, atol: float | None = None, progress=None,
           level: str = "exact", tolerances: dict[str, float] | None = None, data: str | None = None,
           confidence: float = 0.01) -> Verification:
    """Replay the run at ``path`` and compare: every number exactly (level exact; rtol and atol default to
    0), within tolerances (numbers: rtol 1e-6 and atol 1e-12 unless given, and ``tolerances`` per column), or
    its conclusions (l2cli.tools.conclusions, the tests at level ``confidence``; the numbers are still compared
    exactly and reported). ``data``: where the run's data file is now (its fingerprint must match)."""
    from ..sweeps.runner import run_experiment

    old = Run.load(path)
    old.data = data
    stored = old.read_weights() if os.path.lexists(Path(path) / "weights.npz") else None  # checked before the replay
    loose = level == "numbers"
    rtol = (NUMBERS_RTOL if loose else 0.0) if rtol is None else rtol
    atol = (NUMBERS_ATOL if loose else 0.0) if atol is None else atol
    cfg, layouts = replay_config(old)
    if cfg.data.path and not Path(cfg.data.path).is_file():
        from ..errors import InputError

        if data:
            raise InputError(f"--data {data}: no such file")
        raise InputError(f"the run's data file {old.manifest['config']['data']['path']} is not found from here "
                         f"(nor at {old.manifest.get('data', {}).get('path_absolute')}): give its location with "
                         "--data FILE")
    recorded = [group["fingerprint_sha256"] for group in old.manifest["cells"]]
    new = run_experiment(cfg, progress=progress, layouts=layouts, expected_fingerprints=recorded,
                         expected_data=f"the data of run {old.path}")
    keys = ["lambda", "seed", *old.grid_keys]
    rows, compared = [], {}
    for name, extra in (("summary", []), ("history", ["epoch"])):
        found, n = table_differences(f"{name}.csv", old.table(name), as_written(new.table(name)), keys + extra,
                                     rtol, atol, tolerances if loose else None)
        rows += found
        compared[f"{name}.csv"] = n
    if stored is not None:
        found, compared["weights.npz"] = weight_differences(stored, new.weights, rtol, atol,
                                                            [g["axes"] for g in old.manifest["cells"]])
        rows += found
    differences = pd.DataFrame(rows)
    if len(differences):
        old_v = pd.to_numeric(differences["old"], errors="coerce")
        new_v = pd.to_numeric(differences["new"], errors="coerce")
        differences["rel_diff"] = (new_v - old_v).abs() / old_v.abs()
    checks = None
    if level == "conclusions":
        from .conclusions import compare

        checks = compare(old, new, confidence, (NUMBERS_RTOL, NUMBERS_ATOL))
    return Verification(differences, compared, level, checks)


def lambda_text(value) -> str:
    """λ as its shortest round-trip text (1e-05, not 1.0000000000000001e-05); empty where a row has none."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if np.isnan(number) else repr(number)


def summarize_differences(differences: pd.DataFrame, first: int = 3) -> pd.DataFrame:
    """One row per file and column that differ: how many cells, the largest absolute and relative difference,
    and the first ``first`` places (λ in its shortest form, seed, epoch where a row has one): what fits on a
    screen when a whole run differs in its last bits. The full table stays the library's ``differences``."""
    import re

    rows = []
    # weights.npz names a row per model ('W1[7] (12 of 128 differ)'): one summary row per array
    arrays = differences["column"].astype(str).map(lambda c: re.sub(r"\[\d+\] \(.*\)$", "", c))
    for (file, column), group in differences.assign(column=arrays).groupby(["file", "column"], sort=False):
        old, new = pd.to_numeric(group["old"], errors="coerce"), pd.to_numeric(group["new"], errors="coerce")
        places = []
        for _, row in group.head(first).iterrows():
            parts = [f"λ {lam}" if (lam := lambda_text(row.get("lambda"))) else "",
                     "" if pd.isna(row.get("seed", np.nan)) else f"seed {int(row['seed'])}",
                     "" if pd.isna(row.get("epoch", np.nan)) else f"epoch {int(row['epoch'])}"]
            places.append(" ".join(p for p in parts if p) or "the file")
        more = len(group) - len(places)
        with np.errstate(all="ignore"):
            absolute = (new - old).abs()
            relative = absolute / old.abs()
        rows.append({"file": file, "column": column, "differ": len(group),
                     "largest_abs": float(absolute.max()) if absolute.notna().any() else np.nan,
                     "largest_rel": float(relative.max()) if relative.notna().any() else np.nan,
                     "first": "; ".join(places) + (f"; {more:,} more" if more > 0 else "")})
    return pd.DataFrame(rows, columns=["file", "column", "differ", "largest_abs", "largest_rel", "first"])
