"""k-fold cross-validation of a sweep's points: every fold trained as the sweep trains, and the folds' means
(l2cli sweep --cv and the CV estimators both come through here)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ..data.builtin import Split
from ..training import plan
from .engine import run_points
from .experiment import Experiment
from .layout import Compute

CV_COLUMNS = ("lambda", "seed", "status", "epochs", "start", "objective", "grad_norm", "penalty", "weight_norm")


def cross_validate(exp: Experiment, folds: list[Split], pts: list[plan.Point], how: Compute, progress=None,
                   stores=None, executor=None) -> pd.DataFrame:
    """Train every point on each fold (see l2cli.data.builtin.cv_folds); one row per (λ, seed, fold).

    Only the folds' arrays are read: they carry no test rows.
    ``stores``: fold -> the ChunkStore of that fold (in a run directory).
    """
    rows = []
    for fold, split in enumerate(folds):
        store = stores(fold) if stores else None
        summary = run_points(dataclasses.replace(exp, split=split), pts, how, progress, store, executor).summary
        keep = [c for c in summary.columns if c.startswith(("val_", "train_")) or c in CV_COLUMNS]
        frame = summary[keep].copy()
        frame.insert(2, "fold", fold)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def cv_means(summary: pd.DataFrame, cv: pd.DataFrame) -> pd.DataFrame:
    """Add the mean over folds of every validation column to the summary (matched on λ and seed)."""
    val_cols = [c for c in cv.columns if c.startswith("val_")]
    means = cv.groupby(["lambda", "seed"], sort=False)[val_cols].mean().reset_index()
    merged = summary.merge(means, on=["lambda", "seed"], how="left", validate="one_to_one")
    return merged[list(summary.columns) + val_cols]
