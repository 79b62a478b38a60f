"""Whether a replayed run reaches the same conclusions as the run it replays: verify's lowest level.

Where the numbers cannot be the same (another CPU, other library versions), what a sweep concludes can still
be checked. The replay trains the same seeds as the recorded run, so its numbers are pairs, not a second
sample: each replayed seed is compared with its own recorded seed.

- **the choice**: the replay selects the same λ and grid cell, or the recorded choice lies within the replay's
  one-standard-error set (l2cli.sweeps.selection);
- **each seed** (of each λ, cell and metric: the mean validation loss, test loss and accuracy or R²): the
  replayed value is within SEED_SPREADS times the replay's own standard deviation between seeds of the recorded
  one, or within the numbers level's tolerance (|Δ| ≤ 1e-12 + 1e-6·|old|); a single changed seed fails, named;
- **each mean over the seeds**: the paired differences d_s = new_s − old_s have mean 0, by the paired t-test
  (Student 1908; t = mean(d)/(sd(d)/√n), n − 1 degrees of freedom), and the whole family of these tests
  (λ × metric × cell) is corrected for multiplicity by Holm's step-down method (Holm 1979) at the family-wise
  level ``level`` (0.01 by default). A mean within the numbers level's tolerance passes whatever its p;
- **one seed**: with no spread to compare with, the two values must agree within ONE_SEED_RTOL relative
  (and ONE_SEED_ATOL absolute), documented and finite; with cross-validation, the validation loss is paired
  by fold instead;
- **the sweep's shape**: in every cell, the training loss rises and the weight norm falls from the smallest λ to
  the largest (in the replay), the trade-off the sweep exists to show.

:func:`compare` returns one row per check, each with its verdict and reason.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

#: the per-λ metrics compared, by task
METRICS = {"classification": ("val_loss", "test_loss", "test_accuracy"),
           "regression": ("val_loss", "test_loss", "test_r2")}
#: a replayed seed fails when it moved more than this many of the replay's standard deviations between seeds
SEED_SPREADS = 5.0
#: a one-seed run's tolerance, |new − old| ≤ ONE_SEED_ATOL + ONE_SEED_RTOL·|old| (measured: docs/long-runs-and-ci.md)
ONE_SEED_RTOL, ONE_SEED_ATOL = 0.02, 1e-6


def compare(old, new, level: float = 0.01, numbers: tuple[float, float] = (1e-6, 1e-12)) -> pd.DataFrame:
    """One row per check (see the module docstring): check, lambda, seed, the grid axes, verdict (pass/fail),
    reason. ``old`` and ``new`` are l2cli.rundir.run.Run objects of the recorded run and its replay; ``level`` the
    family-wise level of the paired tests; ``numbers`` the numbers level's (rtol, atol), within which a
    difference is none."""
    keys = list(old.grid_keys)
    task = old.manifest.get("data", {}).get("task", "classification")
    rows = [choice_row(old.selection, new.selection, keys)]
    means = []
    for key, group in old.summary.groupby([*keys, "lambda"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cell = dict(zip([*keys, "lambda"], key, strict=True))
        other = new.summary
        for k, v in cell.items():
            other = other[other[k] == v]
        for metric in (m for m in METRICS[task] if m in group):
            by, a, b = pairs(old, new, group, other, metric, cell)
            if len(a) == 1:
                rows.append(one_seed_row(metric, cell, by, a, b, numbers))
            else:
                rows.append(seed_row(metric, cell, by, a, b, numbers))
                means.append((len(rows), metric, cell, a, b))
                rows.append(None)  # the mean's row, once the family's p-values are adjusted
    for (at, metric, cell, a, b), p_adjusted in zip(means, holm([paired_p(a, b, numbers) for *_, a, b in means]),
                                                     strict=True):
        rows[at] = mean_row(metric, cell, a, b, p_adjusted, level, numbers)
    rows += shape_rows(new.aggregate, keys)
    return pd.DataFrame(rows)


def pairs(old_run, new_run, old: pd.DataFrame, new: pd.DataFrame, metric: str,
          cell: dict) -> tuple[str, list, list]:
    """(what pairs them, [(id, old value)], [(id, new value)]) matched by seed; with one seed and
    cross-validation, the validation loss by fold. A seed missing on one side is paired with NaN."""
    by = "seed"
    if len(old) < 2 and metric == "val_loss" and old_run.cv is not None and new_run.cv is not None:
        old, new, by = fold_rows(old_run.cv, cell), fold_rows(new_run.cv, cell), "fold"
    merged = old[[by, metric]].merge(new[[by, metric]], on=by, how="outer", suffixes=("_old", "_new"))
    merged = merged.sort_values(by)
    ids = merged[by].tolist()
    return by, list(zip(ids, merged[f"{metric}_old"].to_numpy(float), strict=True)), \
        list(zip(ids, merged[f"{metric}_new"].to_numpy(float), strict=True))


def fold_rows(cv: pd.DataFrame, cell: dict) -> pd.DataFrame:
    for k, v in cell.items():
        cv = cv[cv[k] == v]
    return cv.groupby("fold", as_index=False)["val_loss"].mean()


def within_numbers(old: np.ndarray, new: np.ndarray, numbers: tuple[float, float]) -> np.ndarray:
    """Equal at the numbers level, |new − old| ≤ atol + rtol·|old| for ``numbers`` = (rtol, atol) (NaN equals
    NaN)."""
    rtol, atol = numbers
    with np.errstate(invalid="ignore"):
        near = np.abs(new - old) <= atol + rtol * np.abs(old)
    return near | (old == new) | (np.isnan(old) & np.isnan(new))


def _row(check: str, cell: dict, ok: bool, reason: str, seed=None) -> dict:
    return {"check": check, **cell, "seed": seed, "verdict": "pass" if ok else "fail", "reason": reason}


def one_seed_row(metric: str, cell: dict, by: str, a: list, b: list, numbers: tuple[float, float]) -> dict:
    """One replicate: the two values within ONE_SEED_RTOL."""
    (seed, old), (_, new) = a[0], b[0]
    ok = bool(within_numbers(np.array(old), np.array(new), numbers)) or \
        abs(new - old) <= ONE_SEED_ATOL + ONE_SEED_RTOL * abs(old)
    reason = (f"{old:.6g} recorded, {new:.6g} replayed: " + ("within" if ok else "beyond")
              + f" the one-seed tolerance ({ONE_SEED_RTOL:g} relative)")
    return _row(metric, cell, ok, reason, seed if by == "seed" else None)


def seed_row(metric: str, cell: dict, by: str, a: list, b: list, numbers: tuple[float, float]) -> dict:
    """Each replayed seed within SEED_SPREADS of the replay's spread between seeds (or the numbers level)."""
    ids = [i for i, _ in a]
    old, new = np.array([v for _, v in a]), np.array([v for _, v in b])
    spread = float(np.nanstd(new, ddof=1)) if np.isfinite(new).sum() > 1 else math.nan
    with np.errstate(invalid="ignore"):
        moved = np.abs(new - old)
        bad = ~within_numbers(old, new, numbers) & ~(moved <= SEED_SPREADS * spread)
    check = f"{metric} per {by}"
    if not bad.any():
        return _row(check, cell, True, f"every {by} within {SEED_SPREADS:g}× the replay's spread between "
                                       f"{by}s ({spread:.3g}) of its recorded value")
    worst = int(np.flatnonzero(bad)[np.argmax(np.where(np.isnan(moved[bad]), np.inf, moved[bad]))])
    reason = (f"{by} {ids[worst]}: {old[worst]:.6g} recorded, {new[worst]:.6g} replayed, a move of "
              f"{moved[worst]:.3g}, beyond {SEED_SPREADS:g}× the replay's spread between {by}s ({spread:.3g})"
              + (f"; {int(bad.sum())} {by}s so" if bad.sum() > 1 else ""))
    return _row(check, cell, False, reason, ids[worst] if by == "seed" else None)


def paired_p(a: list, b: list, numbers: tuple[float, float]) -> float:
    """The two-sided p-value of the paired t-test of mean(new − old) = 0; 1 where every pair is equal at the
    numbers level, 0 where the differences are all the same nonzero number (no spread: no doubt)."""
    old, new = np.array([v for _, v in a]), np.array([v for _, v in b])
    if within_numbers(old, new, numbers).all():
        return 1.0
    d = new - old
    if not np.isfinite(d).all():
        return 0.0
    if np.std(d) == 0:
        return 0.0
    return float(stats.ttest_rel(new, old).pvalue)


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values: the i-th smallest of m is max_{j ≤ i} min(1, (m − j + 1)·p_(j))."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted, running = np.empty(m), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def mean_row(metric: str, cell: dict, a: list, b: list, p: float, level: float,
             numbers: tuple[float, float]) -> dict:
    """The mean over the pairs: it fails when the Holm-adjusted p is below ``level`` and the mean moved
    beyond the numbers level's tolerance."""
    old, new = np.array([v for _, v in a]), np.array([v for _, v in b])
    mean_old, mean_new = float(np.mean(old)), float(np.mean(new))
    close = bool(within_numbers(np.array(mean_old), np.array(mean_new), numbers))
    ok = close or p >= level
    reason = (f"means {mean_old:.6g} and {mean_new:.6g} over {len(a)} pairs, paired t-test Holm-adjusted "
              f"p = {p:.3g}" + (" ≥ " if p >= level else " < ") + f"{level:g}")
    if close and p < level:
        reason += ", and within the numbers level's tolerance"
    return _row(f"{metric} mean", cell, ok, reason)


def choice_row(old: dict, new: dict, keys: list[str]) -> dict:
    """The recorded choice against the replay's: the same, or within the replay's one-standard-error set."""
    base = {"check": "selected λ", "lambda": old.get("lambda"), **{k: (old.get("axes") or {}).get(k) for k in keys},
            "seed": None}
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
                         "seed": None, "verdict": "pass" if ok else "fail",
                         "reason": f"{first[metric]:.4g} at λ = {first['lambda']:g}, {last[metric]:.4g} at "
                                   f"λ = {last['lambda']:g}"})
    return rows


def _cell(selection: dict, keys: list[str]) -> str:
    axes = selection.get("axes") or {}
    return "" if not keys or not axes else " in " + ", ".join(f"{k}={v}" for k, v in axes.items())
