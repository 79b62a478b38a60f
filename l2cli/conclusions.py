"""Whether a replayed run reaches the same conclusions as the run it replays: verify's lowest level.

Where the numbers cannot be the same (another CPU, other library versions), what a sweep concludes can still
be checked, each with its statistics:

- **the choice**: the replay selects the same λ and grid cell, or the recorded choice lies within the replay's
  one-standard-error set (l2cli.selection);
- **the selection rule's inputs**: for each λ (and cell), the mean validation loss and the mean test loss and
  accuracy (or R²) of the two runs agree within their uncertainty: Welch's two-sample t-test over the seeds
  (with one seed and cross-validation, over the folds' validation losses), at the stated level (0.01 by
  default); with a single replicate on a side there is no interval, and the two must agree to 1e-9 relative;
- **the sweep's shape**: in every cell, the training loss rises and the weight norm falls from the smallest λ to
  the largest (in the replay), the trade-off the sweep exists to show.

:func:`compare` returns one row per λ (and cell) and per check, each with its verdict and reason.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

#: the per-λ metrics compared, by task
METRICS = {"classification": ("val_loss", "test_loss", "test_accuracy"),
           "regression": ("val_loss", "test_loss", "test_r2")}


def agree(old: np.ndarray, new: np.ndarray, level: float) -> tuple[bool, str]:
    """Whether two samples' means agree (Welch's t-test at ``level``), and why in a few words."""
    old, new = old[np.isfinite(old)], new[np.isfinite(new)]
    if not len(old) or not len(new):
        return False, "no finite values"
    if len(old) < 2 or len(new) < 2 or (old.std() == 0 and new.std() == 0):
        same = math.isclose(old.mean(), new.mean(), rel_tol=1e-9, abs_tol=1e-12)
        return same, ("equal" if same else f"means {old.mean():.6g} and {new.mean():.6g} differ, and a single "
                                           "replicate has no interval: add seeds")
    p = float(stats.ttest_ind(old, new, equal_var=False).pvalue)
    if p < level:
        return False, f"means {old.mean():.6g} and {new.mean():.6g} differ beyond their interval (Welch p = {p:.3g})"
    return True, f"within the interval (Welch p = {p:.3g})"


def compare(old, new, level: float = 0.01) -> pd.DataFrame:
    """One row per check (see the module docstring): check, lambda, the grid axes, verdict (pass/fail), reason.
    ``old`` and ``new`` are l2cli.rundir.Run objects of the recorded run and its replay."""
    keys = list(old.grid_keys)
    task = old.manifest.get("data", {}).get("task", "classification")
    rows = [choice_row(old.selection, new.selection, keys)]
    for key, group in old.summary.groupby([*keys, "lambda"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cell = dict(zip([*keys, "lambda"], key, strict=True))
        other = new.summary
        for k, v in cell.items():
            other = other[other[k] == v]
        for metric in (m for m in METRICS[task] if m in group):
            a, b = replicates(old, group, metric, cell), replicates(new, other, metric, cell)
            ok, why = agree(a, b, level)
            rows.append({"check": metric, **cell, "verdict": "pass" if ok else "fail", "reason": why})
    rows += shape_rows(new.aggregate, keys)
    return pd.DataFrame(rows)


def replicates(run, rows: pd.DataFrame, metric: str, cell: dict) -> np.ndarray:
    """A λ's values of ``metric`` over its seeds; with one seed and cross-validation, the folds' validation
    losses."""
    values = rows[metric].to_numpy(dtype=float)
    if len(values) < 2 and metric == "val_loss" and run.cv is not None:
        folds = run.cv
        for k, v in cell.items():
            folds = folds[folds[k] == v]
        return folds["val_loss"].to_numpy(dtype=float)
    return values


def choice_row(old: dict, new: dict, keys: list[str]) -> dict:
    """The recorded choice against the replay's: the same, or within the replay's one-standard-error set."""
    base = {"check": "selected λ", "lambda": old.get("lambda"), **{k: (old.get("axes") or {}).get(k) for k in keys}}
    if old.get("lambda") is None and new.get("lambda") is None:
        return {**base, "verdict": "pass", "reason": "neither run selected a λ"}
    if old.get("lambda") == new.get("lambda") and old.get("axes") == new.get("axes"):
        return {**base, "verdict": "pass", "reason": "the same λ and cell"}
    min_cell = ((new.get("choices") or {}).get("min") or {}).get("axes")
    within = new.get("within_1se") or []
    if old.get("lambda") is not None and old.get("axes") == min_cell and any(
            math.isclose(old["lambda"], lam, rel_tol=1e-12) for lam in within):
        return {**base, "verdict": "pass",
                "reason": f"the replay selects λ = {new.get('lambda'):g}, and {old['lambda']:g} is within its "
                          "one-standard-error set"}
    chosen = "none" if new.get("lambda") is None else f"λ = {new['lambda']:g}"
    return {**base, "verdict": "fail", "reason": f"the replay selects {chosen}{_cell(new, keys)}, and the recorded "
                                                 "choice is not within its one-standard-error set"}


def shape_rows(agg: pd.DataFrame, keys: list[str]) -> list[dict]:
    """In each cell, the training loss rises and the weight norm falls from the smallest λ to the largest."""
    rows = []
    groups = agg.groupby(keys, sort=False) if keys else [((), agg)]
    for cell, frame in groups:
        cell = dict(zip(keys, cell if isinstance(cell, tuple) else (cell,), strict=True))
        frame = frame.sort_values("lambda")
        first, last = frame.iloc[0], frame.iloc[-1]
        for metric, rising in (("train_loss_mean", True), ("weight_norm_mean", False)):
            ok = bool(last[metric] > first[metric]) if rising else bool(last[metric] < first[metric])
            word = "rises" if rising else "falls"
            rows.append({"check": f"{metric.removesuffix('_mean')} {word} with λ", "lambda": None, **cell,
                         "verdict": "pass" if ok else "fail",
                         "reason": f"{first[metric]:.4g} at λ = {first['lambda']:g}, {last[metric]:.4g} at "
                                   f"λ = {last['lambda']:g}"})
    return rows


def _cell(selection: dict, keys: list[str]) -> str:
    axes = selection.get("axes") or {}
    return "" if not keys or not axes else " in " + ", ".join(f"{k}={v}" for k, v in axes.items())
