"""Aggregating over seeds and choosing λ honestly: by validation loss, never by test loss.

Both functions take the summary table (one row per model) and return new
tables; they read no files and know nothing of how the models were trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass
class Spread:
    """How sure a sweep is of each row of its aggregate table (one (grid cell, λ) a row, in the table's order).

    over: "folds" (k-fold cross-validation: the standard error of the K fold losses, each fold's loss first
    averaged over the seeds) or "seeds" (a validation split: the standard error over the seeds). n: K or the
    number of seeds. se: the standard error of each row's mean validation loss. wins: the share of the
    replicates (folds × seeds, or seeds) in which each row has the lowest validation loss of all candidates
    (ties: the larger λ); None when the replicates are not known.
    """

    over: str
    n: int
    se: np.ndarray
    wins: np.ndarray | None = None


def candidates(agg: pd.DataFrame) -> np.ndarray:
    """The rows that may be chosen: a finite mean validation loss and no diverged model."""
    val = agg["val_loss_mean"].to_numpy(dtype=float)
    diverged = agg["n_diverged"].to_numpy() > 0 if "n_diverged" in agg else np.zeros(len(agg), bool)
    return np.isfinite(val) & ~diverged


def seed_spread(agg: pd.DataFrame, grid_keys: list[str], summary: pd.DataFrame | None = None) -> Spread:
    """The spread over seeds (a validation split): SE = std / √n_seeds; wins from ``summary``'s rows."""
    n = agg["n_seeds"].to_numpy(dtype=float)
    if "val_loss_std" not in agg:  # no validation rows: nothing to be uncertain about
        return Spread("seeds", int(n.max()) if len(n) else 0, np.full(len(agg), np.nan))
    se = np.where(n > 1, agg["val_loss_std"].to_numpy(dtype=float) / np.sqrt(n), np.nan)
    wins = None if summary is None else win_frequency(agg, grid_keys, summary, ["seed"])
    return Spread("seeds", int(n.max()) if len(n) else 0, se, wins)


def fold_spread(agg: pd.DataFrame, grid_keys: list[str], cv: pd.DataFrame) -> Spread:
    """The spread over the K folds of ``cv`` (one row per λ × seed × fold, and grid cell), as ESL §7.10 and
    cv.glmnet compute it: each fold's validation loss averaged over the seeds, then SE = std_K(ddof=1) / √K."""
    keys = [*grid_keys, "lambda"]
    per_fold = cv.groupby([*keys, "fold"], sort=False)["val_loss"].mean().groupby(level=keys, sort=False)
    se_by_key = (per_fold.std(ddof=1) / np.sqrt(per_fold.count())).to_dict()
    se = np.array([se_by_key.get(key[0] if len(keys) == 1 else key, np.nan)
                   for key in agg[keys].itertuples(index=False, name=None)], dtype=float)
    return Spread("folds", int(cv["fold"].nunique()), se, win_frequency(agg, grid_keys, cv, ["fold", "seed"]))


def win_frequency(agg: pd.DataFrame, grid_keys: list[str], rows: pd.DataFrame, replicate: list[str]) -> np.ndarray:
    """The share of the replicates (a fold and seed, or a seed) in which each row of ``agg`` has the lowest
    validation loss among the candidates; ties go to the larger λ, as in :func:`select`. Sums to 1 when
    there is a candidate."""
    keys = [*grid_keys, "lambda"]
    table = rows.pivot_table(index=replicate, columns=keys, values="val_loss", aggfunc="first", dropna=False)
    order = [key[0] if len(keys) == 1 else key for key in agg[keys].itertuples(index=False, name=None)]
    values = table.reindex(columns=pd.Index(order) if len(keys) == 1 else pd.MultiIndex.from_tuples(order))
    values = values.to_numpy(dtype=float, copy=True)
    values[:, ~candidates(agg)] = np.inf
    values[~np.isfinite(values)] = np.inf
    lambdas = agg["lambda"].to_numpy(dtype=float)
    counts = np.zeros(len(agg))
    for v in values:
        if np.isfinite(v).any():
            tied = np.flatnonzero(v == v.min())
            counts[tied[np.argmax(lambdas[tied])]] += 1
    return counts / counts.sum() if counts.sum() else counts


def select(agg: pd.DataFrame, grid_keys: list[str], rule: str, source: str = "validation",
           spread: Spread | None = None) -> dict:
    """Choose λ (and the grid cell) from ``val_loss_mean``; test columns are not read.

    min: the lowest mean validation loss (ties: the larger λ).
    1se: within the grid cell of that minimum, the largest λ whose mean
    validation loss is within one standard error of it (Breiman et al. 1984; ESL §7.10), the standard
    error being ``spread``'s: over the folds with cross-validation, over the seeds with a validation split
    (default: over the seeds of ``agg``). Where the minimum has no standard error, 1se selects nothing
    and says why (the config refuses that case before training).
    A λ (and cell) is a candidate only when its mean validation loss is finite
    and none of its models diverged. ``at_edge`` says the chosen λ is the
    smallest or largest of the grid: the best λ may lie outside it.
    """
    if "val_loss_mean" not in agg.columns:
        return {"lambda": None, "axes": {}, "rule": rule, "source": None, "reason_code": "no_validation_data",
                "reason": "no validation data: set data.val_size > 0 or sweep.cv ≥ 2 to select λ"}
    finite = candidates(agg)
    if not finite.any():
        return {"lambda": None, "axes": {}, "rule": rule, "source": source, "reason_code": "no_finite_candidate",
                "reason": "no λ has a finite validation loss without a diverged model"}
    spread = spread or seed_spread(agg, grid_keys)
    val, lambdas = agg["val_loss_mean"].to_numpy(dtype=float), agg["lambda"].to_numpy(dtype=float)
    best = min(np.flatnonzero(finite), key=lambda i: (val[i], -lambdas[i]))
    se = float(spread.se[best])
    same_cell = np.ones(len(agg), bool)
    for a in grid_keys:
        same_cell &= (agg[a] == agg[a].iloc[best]).to_numpy()
    within = finite & same_cell & (val <= val[best] + se) if math.isfinite(se) else np.zeros(len(agg), bool)
    one_se = max(np.flatnonzero(within), key=lambda i: lambdas[i]) if within.any() else None
    if rule == "1se" and one_se is None:
        return {"lambda": None, "axes": {}, "rule": rule, "source": source, "reason_code": "no_standard_error",
                "reason": f"the 1se rule needs a standard error over {spread.over}, and there is one "
                          f"{spread.over[:-1]}: give two or more seeds or use k-fold cross-validation"}
    chosen = one_se if rule == "1se" else best
    return {
        "lambda": float(lambdas[chosen]),
        "at_edge": at_edge(float(lambdas[chosen]), lambdas),
        "axes": _axes(agg, chosen, grid_keys),
        "rule": rule,
        "source": source,
        "metric": "val_loss_mean",
        "val_loss_mean": float(val[chosen]),
        "val_loss_se": _finite(spread.se[chosen]),
        "min_val_loss_mean": float(val[best]),
        "n_candidates": int(finite.sum()),
        "se": _finite(se), "se_over": spread.over, "se_n": spread.n,
        "choices": {name: None if i is None else {"lambda": float(lambdas[i]), "axes": _axes(agg, i, grid_keys),
                                                   "val_loss_mean": float(val[i])}
                    for name, i in (("min", best), ("1se", one_se))},
        "within_1se": [float(lam) for lam in sorted(lambdas[within])],
        "table": uncertainty(agg, grid_keys, spread, within).to_dict("records"),
    }


def select_by_evidence(agg: pd.DataFrame, grid_keys: list[str], notes: list[str] | None = None) -> dict:
    """Choose λ (and the grid cell) of the highest mean log evidence over the seeds (ties: the larger λ), from
    the training rows alone (l2cli.maths.evidence); λ = 0 (an improper prior), cells with a diverged model and λ
    where a model got no evidence (not at a minimum of J: ``notes`` say why) are not candidates, and the
    choice says how many were left out."""
    values = agg["log_evidence_mean"].to_numpy(dtype=float)
    lambdas = agg["lambda"].to_numpy(dtype=float)
    diverged = agg["n_diverged"].to_numpy() > 0 if "n_diverged" in agg else np.zeros(len(agg), bool)
    finite = np.isfinite(values) & ~diverged
    left = int(np.sum(~finite & (lambdas > 0)))
    why = {"n_left_out": left, **({"left_out_reason": notes[0]} if left and notes else {})}
    if not finite.any():
        return {"lambda": None, "axes": {}, "rule": "evidence", "source": "training rows", "reason_code":
                "no_finite_evidence", "reason": "no λ > 0 has a finite log evidence without a diverged model"
                + (f" ({notes[0]})" if notes else ""), **why}
    best = max(np.flatnonzero(finite), key=lambda i: (values[i], lambdas[i]))
    return {"lambda": float(lambdas[best]), "at_edge": at_edge(float(lambdas[best]), lambdas),
            "axes": _axes(agg, best, grid_keys), "rule": "evidence", "source": "training rows (Laplace evidence)",
            "metric": "log_evidence_mean", "log_evidence_mean": float(values[best]),
            "n_candidates": int(finite.sum()), **why}


def test_loss_of(agg: pd.DataFrame, grid_keys: list[str], choice: dict) -> dict:
    """A selection's λ, cell and the mean test loss there (None when it chose nothing)."""
    if choice.get("lambda") is None:
        return {"lambda": None, "axes": {}, "test_loss_mean": None}
    hit = np.isclose(agg["lambda"].to_numpy(dtype=float), choice["lambda"], rtol=1e-12, atol=0)
    for key, value in choice.get("axes", {}).items():
        hit &= (agg[key].astype(str) == str(value)).to_numpy()
    test = agg["test_loss_mean"].to_numpy(dtype=float)[hit] if "test_loss_mean" in agg and hit.any() else []
    return {"lambda": choice["lambda"], "axes": choice.get("axes", {}), "rule": choice.get("rule"),
            "test_loss_mean": _finite(test[0]) if len(test) else None}


def uncertainty(agg: pd.DataFrame, grid_keys: list[str], spread: Spread, within: np.ndarray) -> pd.DataFrame:
    """Per row of ``agg``: the mean validation loss, its standard error, whether it is within one SE of the
    minimum (in the minimum's grid cell), and its win frequency."""
    out = agg[[*grid_keys, "lambda", "val_loss_mean"]].copy()
    out["val_loss_se"] = spread.se
    out["within_1se"] = within
    out["win_frequency"] = np.nan if spread.wins is None else spread.wins
    return out.astype({c: object for c in grid_keys}).replace({np.nan: None})


def edge_note(selection: dict, lambdas) -> str:
    """The line that says a chosen λ is at the edge of its grid, and which way to extend it."""
    lam = selection["lambda"]
    low = lam == min(lambdas)
    side = "smallest" if low else "largest"
    hint = f"below {lam:g}" if low else f"above {lam:g}"
    return f"the selected λ = {lam:g} is the {side} of the grid: the best λ may lie outside it; extend the grid {hint}"


def remarks(agg: pd.DataFrame, grid_keys: list[str], task: str, majority: dict | None = None) -> list[str]:
    """Where a result is useless: a regression whose test R² is ≤ 0 at every λ, or a classification whose test
    accuracy does not beat the majority class's share of the test rows at any λ (``majority``: grid cell
    tuple -> that share). One line per grid cell."""
    out = []
    groups = agg.groupby(grid_keys, sort=False) if grid_keys else [((), agg)]
    for cell, rows in groups:
        cell = cell if isinstance(cell, tuple) else (cell,)
        where = "" if not grid_keys else " in " + ", ".join(f"{k}={v}" for k, v in zip(grid_keys, cell, strict=True))
        if task == "regression" and "test_r2_mean" in rows and (rows["test_r2_mean"] <= 0).all():
            out.append(f"test R² ≤ 0 at every λ{where} (best {rows['test_r2_mean'].max():.3g}): no model predicts "
                       "the test rows better than their mean; check the features, or try a wider λ grid")
        share = (majority or {}).get(cell)
        if task == "classification" and share is not None and "test_accuracy_mean" in rows \
                and (rows["test_accuracy_mean"] <= share).all():
            out.append(f"test accuracy does not beat the majority class ({share:.3g} of the test rows) at any "
                       f"λ{where} (best {rows['test_accuracy_mean'].max():.3g}): the models learned nothing useful")
    return out


def _axes(agg: pd.DataFrame, i: int, grid_keys: list[str]) -> dict:
    return {a: _plain(agg[a].iloc[i]) for a in grid_keys}


def _finite(x) -> float | None:
    return float(x) if np.isfinite(x) else None


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
