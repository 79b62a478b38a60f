"""Aggregating over seeds and choosing λ honestly: by validation loss, never by test loss.

Both functions take the summary table (one row per model) and return new
tables; they read no files and know nothing of how the models were trained.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

#: Columns that identify a model rather than measure it.
KEY_COLUMNS = ("lambda", "seed", "status", "selected")


def aggregate(summary: pd.DataFrame, grid_keys: list[str]) -> pd.DataFrame:
    """Per λ (and per extra axis): mean, standard deviation and 95 % confidence interval over seeds.

    For every numeric column c of the summary: c_mean, c_std (sample standard
    deviation, ddof=1) and c_ci95, the half-width of the two-sided 95 % Student-t
    interval, t_{0.975, n-1}·std/√n (empty for a single seed). n_seeds counts the
    seeds of the row, n_diverged those whose model diverged.
    """
    keys = [*grid_keys, "lambda"]
    metrics = [c for c in summary.columns
               if c not in KEY_COLUMNS and c not in grid_keys and pd.api.types.is_numeric_dtype(summary[c])]
    rows = []
    for key, group in summary.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        n = len(group)
        row = dict(zip(keys, key, strict=True))
        row["n_seeds"] = n
        row["n_diverged"] = int((group["status"] == "diverged").sum()) if "status" in group else 0
        t = stats.t.ppf(0.975, n - 1) if n > 1 else math.nan
        for c in metrics:
            values = group[c].to_numpy(dtype=float)
            mean = values.mean()
            std = values.std(ddof=1) if n > 1 else math.nan
            row[f"{c}_mean"], row[f"{c}_std"], row[f"{c}_ci95"] = mean, std, t * std / math.sqrt(n)
        rows.append(row)
    return pd.DataFrame(rows)


def fold_means(cv: pd.DataFrame) -> pd.DataFrame:
    """One row per (λ, seed) of a cross-validation table (one row per λ × seed × fold): the mean over the
    folds of every measurement, and the status ``diverged`` when the model of any fold diverged (so that
    :func:`select` never chooses that λ), else the first fold's."""
    keys = ["lambda", "seed"]
    measured = [c for c in cv.columns if c not in (*keys, "fold", "status") and pd.api.types.is_numeric_dtype(cv[c])]
    groups = cv.groupby(keys, sort=False)
    means = groups[measured].mean().reset_index()
    status = groups["status"].agg(lambda s: "diverged" if (s == "diverged").any() else s.iloc[0])
    means.insert(2, "status", status.to_numpy())
    return means


def select(agg: pd.DataFrame, grid_keys: list[str], rule: str = "min", source: str = "validation") -> dict:
    """Choose λ (and the grid cell) from ``val_loss_mean``; test columns are not read.

    min: the lowest mean validation loss over seeds (ties: the larger λ).
    1se: within the grid cell of that minimum, the largest λ whose mean
    validation loss is within one standard error (std/√n) of it.
    A λ (and cell) is a candidate only when its mean validation loss is finite
    and none of its models diverged. ``at_edge`` says the chosen λ is the
    smallest or largest of the grid: the best λ may lie outside it.
    """
    if "val_loss_mean" not in agg.columns:
        return {"lambda": None, "axes": {}, "rule": rule, "source": None, "reason_code": "no_validation_data",
                "reason": "no validation data: set data.val_size > 0 or sweep.cv ≥ 2 to select λ"}
    val = agg["val_loss_mean"].to_numpy(dtype=float)
    diverged = agg["n_diverged"].to_numpy() > 0 if "n_diverged" in agg else np.zeros(len(agg), bool)
    finite = np.isfinite(val) & ~diverged
    if not finite.any():
        return {"lambda": None, "axes": {}, "rule": rule, "source": source, "reason_code": "no_finite_candidate",
                "reason": "no λ has a finite validation loss without a diverged model"}
    order = sorted(np.flatnonzero(finite), key=lambda i: (val[i], -agg["lambda"].iloc[i]))
    best = order[0]
    chosen = best
    se = agg["val_loss_std"].iloc[best] / math.sqrt(agg["n_seeds"].iloc[best])
    if rule == "1se" and math.isfinite(se):
        same_axes = np.ones(len(agg), bool)
        for a in grid_keys:
            same_axes &= (agg[a] == agg[a].iloc[best]).to_numpy()
        within = np.flatnonzero(finite & same_axes & (val <= val[best] + se))
        chosen = max(within, key=lambda i: agg["lambda"].iloc[i])
    row = agg.iloc[chosen]
    lambdas = agg["lambda"].to_numpy(dtype=float)
    return {
        "lambda": float(row["lambda"]),
        "at_edge": at_edge(float(row["lambda"]), lambdas),
        "axes": {a: _plain(row[a]) for a in grid_keys},
        "rule": rule,
        "source": source,
        "metric": "val_loss_mean",
        "val_loss_mean": float(row["val_loss_mean"]),
        "val_loss_se": float(row["val_loss_std"] / math.sqrt(row["n_seeds"])) if row["n_seeds"] > 1 else None,
        "min_val_loss_mean": float(val[best]),
        "n_candidates": int(finite.sum()),
    }


def at_edge(lam: float, lambdas: np.ndarray) -> bool:
    """λ is the largest of the grid, or the smallest but not 0 (nothing is smaller than no penalty)."""
    return bool(len(np.unique(lambdas)) > 1 and (lam == lambdas.max() or 0 < lam == lambdas.min()))


def mark(frame: pd.DataFrame, selection: dict, grid_keys: list[str]) -> pd.Series:
    """True on the rows of ``frame`` that belong to the selected λ and grid cell."""
    if selection.get("lambda") is None:
        return pd.Series(False, index=frame.index)
    hit = frame["lambda"] == selection["lambda"]
    for a in grid_keys:
        hit &= frame[a] == selection["axes"][a]
    return hit


def _plain(value):
    return value.item() if hasattr(value, "item") else value
