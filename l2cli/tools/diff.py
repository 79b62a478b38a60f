"""Two runs side by side, in the manner of ``dvc exp diff``: the config keys that differ, then the
aggregate metrics of each λ (and grid cell) in both runs and their change."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import all_keys, result_keys
from ..rundir.run import Run

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


def metric_changes(a: Run, b: Run, include_same: bool) -> list[dict]:
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
        same = (old == new) | (np.isnan(old) & np.isnan(new))
        for i in range(len(merged)) if include_same else np.flatnonzero(~same):
            rows.append({"what": "metric", "name": metric, **merged.loc[i, keys].to_dict(),
                         "old": old[i], "new": new[i], "change": new[i] - old[i]})
    return rows


def diff(a: Run, b: Run, include_same: bool = False) -> pd.DataFrame:
    """One row per differing config key, then per (metric, λ, grid cell) that differs (with include_same: every
    metric, and the config keys that cannot change a number, such as output.dir, too).
    Columns: what (config or metric), name, lambda, grid keys, old, new, change."""
    rows = config_changes(a, b, include_same) + environment_changes(a, b) + metric_changes(a, b, include_same)
    columns = ["what", "name", "lambda", *dict.fromkeys(a.grid_keys + b.grid_keys), "old", "new", "change"]
    return pd.DataFrame(rows, columns=columns)


def _text(value) -> str:
    return "" if value is None else str(value)
