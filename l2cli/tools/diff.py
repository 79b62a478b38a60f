"""Two runs side by side, in the manner of ``dvc exp diff``: the config keys that differ, then the
aggregate metrics of each λ (and grid cell) in both runs and their change.

What counts as a change: a metric that moved by more than verify's numbers level allows (|new − old| >
1e-12 + 1e-6·|old|: two replays on other BLAS kernels differ in their last bits, which is not a change),
unless ``exact``. ``fail_on`` makes it a gate for CI: each rule names a metric (``test_loss`` or
``test_loss_mean``) with a relative tolerance (``test_loss=0.01``: 1 %) or an absolute one
(``test_loss=abs:0.001``), or ``selected_lambda``; the changes that cross their rule are what it reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import all_keys, result_keys
from ..errors import InputError
from ..rundir.run import Run
from .verify import NUMBERS_ATOL, NUMBERS_RTOL

#: The aggregate columns compared (those a run has).
METRICS = ("train_loss_mean", "val_loss_mean", "test_loss_mean", "penalty_mean", "weight_norm_mean",
           "train_accuracy_mean", "val_accuracy_mean", "test_accuracy_mean", "train_r2_mean", "val_r2_mean",
           "test_r2_mean")


def flat_config(manifest: dict) -> dict[str, object]:
    """'section.key' -> value, and 'grid.section.key' for the extra axes."""
    config = manifest.get("config", {})
    out = {f"{s}.{k}": v for s, table in config.items() if s != "grid" for k, v in (table or {}).items()}
    out.update({f"grid.{k}": v for k, v in (config.get("grid") or {}).items()})
    return out


def config_changes(a: Run, b: Run, include_all: bool = False) -> list[dict]:
    """The config keys whose values differ; without ``include_all`` only the keys that can change a number
    (config.result_keys: not output.dir, the layout or the executor)."""
    fa, fb = flat_config(a.manifest), flat_config(b.manifest)
    hidden = set() if include_all else set(all_keys()) - set(result_keys())
    return [{"what": "config", "name": k, "old": _text(fa.get(k)), "new": _text(fb.get(k)), "change": "changed"}
            for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k) and k not in hidden]


def environment_changes(a: Run, b: Run) -> list[dict]:
    """The parts of the two runs' numerical environments that differ (l2cli.machine.environment; what = environment)."""
    from ..machine.environment import flat

    ea, eb = flat(a.manifest.get("environment") or {}), flat(b.manifest.get("environment") or {})
    return [{"what": "environment", "name": k, "old": ea.get(k, ""), "new": eb.get(k, ""), "change": "changed"}
            for k in sorted(set(ea) | set(eb)) if ea.get(k) != eb.get(k)]


def metric_changes(a: Run, b: Run, include_same: bool, exact: bool = True) -> list[dict]:
    """(metric, λ, grid cell) rows whose values differ: exactly, or (``exact`` false) by more than the numbers
    level's tolerances; every row with ``include_same``."""
    keys = ["lambda", *dict.fromkeys(a.grid_keys + b.grid_keys)]
    left, right = a.aggregate.copy(), b.aggregate.copy()
    for frame in (left, right):
        for k in keys:
            if k not in frame:
                frame[k] = ""
    merged = left.merge(right, on=keys, how="outer", suffixes=("_a", "_b"), sort=True)
    rows = []
    for metric in (m for m in METRICS if m in left or m in right):
        old = merged.get(f"{metric}_a", pd.Series(np.nan, index=merged.index)).to_numpy(float)
        new = merged.get(f"{metric}_b", pd.Series(np.nan, index=merged.index)).to_numpy(float)
        with np.errstate(invalid="ignore"):
            within = np.abs(new - old) <= (0.0 if exact else NUMBERS_ATOL + NUMBERS_RTOL * np.abs(old))
        same = (old == new) | (np.isnan(old) & np.isnan(new)) | within
        for i in range(len(merged)) if include_same else np.flatnonzero(~same):
            rows.append({"what": "metric", "name": metric, **merged.loc[i, keys].to_dict(),
                         "old": old[i], "new": new[i], "change": new[i] - old[i]})
    return rows


def diff(a: Run, b: Run, include_same: bool = False, exact: bool = False) -> pd.DataFrame:
    """One row per differing config key, then per (metric, λ, grid cell) that changed (see the module
    docstring; with include_same: every metric, and the config keys that cannot change a number, such as
    output.dir, too; the environments' differences with include_same or exact).
    Columns: what (config, environment or metric), name, lambda, grid keys, old, new, change."""
    rows = config_changes(a, b, include_same)
    rows += environment_changes(a, b) if include_same or exact else []
    rows += metric_changes(a, b, include_same, exact)
    columns = ["what", "name", "lambda", *dict.fromkeys(a.grid_keys + b.grid_keys), "old", "new", "change"]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class Rule:
    """--fail-on: a metric (an aggregate column) and its tolerance, relative or absolute; or selected_lambda."""

    metric: str
    tolerance: float | None = None  # None: any change beyond the numbers level
    absolute: bool = False

    @classmethod
    def parse(cls, text: str) -> Rule:
        name, eq, value = (part.strip() for part in text.partition("="))
        if name == "selected_lambda":
            if eq:
                raise InputError(f"--fail-on {text}: selected_lambda takes no tolerance (any other λ fails)")
            return cls(name)
        metric = name if name.endswith("_mean") else f"{name}_mean"
        if metric not in METRICS:
            from ..config import suggest

            names = [m[:-len("_mean")] for m in METRICS]
            raise InputError(f"--fail-on {text}: {name!r} is not a metric{suggest(name, names)}; one of "
                             f"{', '.join(names)}, or selected_lambda")
        if not eq:
            return cls(metric)
        absolute = value.startswith("abs:")
        try:
            tolerance = float(value[4:] if absolute else value)
        except ValueError:
            tolerance = -1.0
        if not 0 <= tolerance < float("inf"):
            raise InputError(f"--fail-on {text}: the tolerance must be a finite number ≥ 0 (0.01: 1 % of the old "
                             "value; abs:0.001: an absolute one)")
        return cls(metric, tolerance, absolute)

    def crossed(self, old: float, new: float) -> bool:
        if np.isnan(old) or np.isnan(new):
            return bool(np.isnan(old) != np.isnan(new))
        if self.tolerance is None:
            return abs(new - old) > NUMBERS_ATOL + NUMBERS_RTOL * abs(old)
        return abs(new - old) > self.tolerance * (1.0 if self.absolute else abs(old))


def crossing(a: Run, b: Run, rules: list[Rule]) -> pd.DataFrame:
    """The changes that cross a --fail-on rule, one row each (the diff's columns and the rule); empty: none."""
    table = diff(a, b, include_same=True)
    metrics = table[table["what"] == "metric"]
    rows = []
    for rule in rules:
        if rule.metric == "selected_lambda":
            old, new = a.selection.get("lambda"), b.selection.get("lambda")
            if old != new:
                rows.append({"what": "selection", "name": "selected_lambda", "old": old, "new": new,
                             "change": None if old is None or new is None else new - old, "rule": "any change"})
            continue
        for _, row in metrics[metrics["name"] == rule.metric].iterrows():
            if rule.crossed(float(row["old"]), float(row["new"])):
                limit = ("beyond the numbers level" if rule.tolerance is None else
                         f"|change| > {rule.tolerance:g}" + ("" if rule.absolute else " × |old|"))
                rows.append({**row.to_dict(), "rule": limit})
    return pd.DataFrame(rows, columns=[*table.columns, "rule"])


def _text(value) -> str:
    return "" if value is None else str(value)
