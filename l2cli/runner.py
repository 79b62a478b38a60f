"""One experiment from config to run directory: the library entry point behind ``l2cli sweep``.

A run trains every (λ, seed) point once per combination of the extra sweep
axes (a *group*), and, with k-fold cross-validation, k more times per group on
folds of the training part. λ is then chosen by validation loss
(:mod:`l2cli.selection`); the test rows are only ever used to report.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .config import Config
from .conventions import equivalents
from .data import cv_folds
from .results import check_run_dir, default_run_dir, now, versions, write_run
from .selection import aggregate, mark, select
from .sweep import Experiment, SweepResult, plan, prepare, run_sweep


@dataclass
class Group:
    """The models of one combination of extra-axis values."""

    axes: dict[str, Any]  # "section.key" -> value as shown in the tables
    experiment: Experiment
    result: SweepResult
    cv: pd.DataFrame | None = None


@dataclass
class Run:
    path: Path | None
    groups: list[Group]
    summary: pd.DataFrame
    history: pd.DataFrame
    aggregate: pd.DataFrame
    selection: dict
    manifest: dict
    seconds: float
    cv: pd.DataFrame | None = None

    @property
    def axes(self) -> list[str]:
        return list(self.groups[0].axes)

    @property
    def failed(self) -> bool:
        """True when any model diverged (its numbers are NaN/inf in the tables)."""
        return bool((self.summary["status"] == "diverged").any())


def axis_value(value: Any) -> Any:
    """How an axis value appears in a table cell: lists as JSON text, the rest as is."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _with_axes(frame: pd.DataFrame, axes: dict[str, Any]) -> pd.DataFrame:
    """Insert one column per extra axis after the seed column."""
    frame = frame.copy()
    at = list(frame.columns).index("seed") + 1 if "seed" in frame.columns else 0
    for offset, (key, value) in enumerate(axes.items()):
        frame.insert(at + offset, key, [axis_value(value)] * len(frame))
    return frame


def _column_order(columns, axes: list[str]) -> list[str]:
    """Summary columns in one fixed order, whatever the grid cells and cross-validation added."""
    norms = sorted((c for c in columns if c.startswith("norm_W")), key=lambda c: int(c[len("norm_W"):]))
    canonical = ["lambda", "seed", *axes, "status", "epochs", "train_loss", "val_loss", "test_loss", "objective",
                 "penalty", "weight_norm", *norms, "train_accuracy", "val_accuracy", "test_accuracy",
                 "train_r2", "val_r2", "test_r2"]
    return [c for c in canonical if c in columns] + [c for c in columns if c not in canonical]


def cross_validate(exp: Experiment, k: int, progress=None) -> pd.DataFrame:
    """Train every point on each of k folds of the training part; one row per (λ, seed, fold).

    Only ``exp.split``'s training arrays are read: the folds carry no test rows.
    """
    cfg = exp.config
    rows = []
    for fold, split in enumerate(cv_folds(exp.split, k, cfg.data.seed, cfg.data.standardize)):
        result = run_sweep(dataclasses.replace(exp, split=split), plan(cfg), progress)
        keep = [c for c in result.summary.columns if c.startswith(("val_", "train_")) or c in ("lambda", "seed",
                                                                                             "status", "epochs")]
        frame = result.summary[keep].copy()
        frame.insert(2, "fold", fold)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def _cv_means(summary: pd.DataFrame, cv: pd.DataFrame) -> pd.DataFrame:
    """Add the mean over folds of every validation column to the summary (matched on λ and seed)."""
    val_cols = [c for c in cv.columns if c.startswith("val_")]
    means = cv.groupby(["lambda", "seed"], sort=False)[val_cols].mean().reset_index()
    merged = summary.merge(means, on=["lambda", "seed"], how="left", validate="one_to_one")
    return merged[list(summary.columns) + val_cols]


def _equivalents(exp: Experiment) -> list[dict]:
    """Each λ of the sweep in other libraries' terms, for this experiment's data and batches."""
    t = exp.config.train
    batch = 0 if t.optimizer == "gd" else t.batch_size
    n = int(exp.split.X_train.shape[0])
    return [equivalents(lam, exp.split.task, exp.spec.reduction, n, batch) for lam in exp.config.sweep.lambdas]


def manifest(cfg: Config, groups: list[Group], argv: list[str], started: str, seconds: float,
             summary: pd.DataFrame) -> dict:
    exp, first = groups[0].experiment, groups[0].result
    s = exp.split
    return {
        "l2cli_manifest": 1,
        "command": argv,
        "config": cfg.to_dict(),
        "started": started,
        "finished": now(),
        "seconds": round(seconds, 3),
        "versions": versions(),
        "data": {
            "name": cfg.data.path or cfg.data.dataset,
            "task": s.task,
            "n_train": int(s.X_train.shape[0]),
            "n_val": 0 if s.X_val is None else int(s.X_val.shape[0]),
            "n_test": int(s.X_test.shape[0]),
            "n_features": s.n_features,
            "classes": None if s.classes is None else s.classes.tolist(),
            "target_mean": s.target_mean,
            "target_scale": s.target_scale,
            "fingerprint_sha256": s.fingerprint(),
        },
        "network": {"layer_sizes": list(exp.layer_sizes), "init": exp.init, "loss": exp.spec.loss},
        "groups": [{"axes": g.axes, "layer_sizes": list(g.experiment.layer_sizes),
                    "n_train": int(g.experiment.split.X_train.shape[0]),
                    "fingerprint_sha256": g.experiment.split.fingerprint(),
                    "lambda_equivalents": _equivalents(g.experiment)} for g in groups],
        "lambda_equivalents": _equivalents(exp),
        "compute": {"engine": cfg.sweep.engine, "chunk_size": first.chunk_size, "workers": first.workers,
                    "blas_threads_per_worker": first.threads, "blas": first.blas, "dtype": cfg.train.dtype},
        "models": int(len(summary)),
        "status_counts": summary["status"].value_counts().to_dict(),
    }


def weight_arrays(groups: list[Group]) -> dict[str, np.ndarray]:
    """weights.npz: row m of every array is row m of summary.csv.

    lambda, seed, group (M,); W1..WL (M, n_in, n_out) and b1..bL (M, n_out) when
    every group has the same layer sizes, otherwise g<k>.W1 … per group k.
    """
    out = {"lambda": np.concatenate([[p.lam for p in g.result.points] for g in groups]),
           "seed": np.concatenate([[p.seed for p in g.result.points] for g in groups]),
           "group": np.concatenate([np.full(len(g.result.points), k) for k, g in enumerate(groups)])}
    same = len({g.experiment.layer_sizes for g in groups}) == 1
    for k, g in enumerate(groups):
        prefix = "" if same else f"g{k}."
        for l, (W, b) in enumerate(zip(g.result.params.W, g.result.params.b), start=1):
            if same and k > 0:
                out[f"W{l}"] = np.concatenate([out[f"W{l}"], W])
                out[f"b{l}"] = np.concatenate([out[f"b{l}"], b])
            else:
                out[f"{prefix}W{l}"], out[f"{prefix}b{l}"] = W, b
    return out


def train_all(cfg: Config, progress: Callable[[int], None] | None = None,
              log: Callable[[str], None] | None = None) -> tuple[list[Group], pd.DataFrame | None]:
    """Prepare every group (all data is checked before any training), then train them."""
    combos = cfg.axes()
    experiments = [prepare(cfg.replace(c)) for c in combos]
    points = plan(cfg)
    k = cfg.sweep.cv
    if log:
        s = experiments[0].split
        rows = f"{len(s.X_train)} train / {len(s.X_test)} test"
        rows += f" / {len(s.X_val)} val" if s.X_val is not None else ""
        extra = f" × {len(combos)} grid cells" if len(combos) > 1 else ""
        cv = f", {k}-fold cross-validation" if k else ""
        log(f"l2cli: {len(points) * len(combos)} models ({len(cfg.sweep.lambdas)} λ × {len(cfg.sweep.seeds)} seeds"
            f"{extra}), {'-'.join(map(str, experiments[0].layer_sizes))} {cfg.model.activation}, "
            f"{cfg.train.optimizer}, {cfg.train.epochs} epochs{cv}, {cfg.data.path or cfg.data.dataset} ({rows} rows)")
    groups = []
    for combo, exp in zip(combos, experiments):
        axes = {key: axis_value(v) for key, v in combo.items()}
        cv = cross_validate(exp, k, progress) if k else None
        result = run_sweep(exp, points, progress)
        groups.append(Group(axes, exp, result, None if cv is None else _with_axes(cv, axes)))
    cv_table = pd.concat([g.cv for g in groups], ignore_index=True) if k else None
    return groups, cv_table


def run_experiment(cfg: Config, out: str | Path | None = None, argv: list[str] | None = None,
                   progress: Callable[[int], None] | None = None,
                   log: Callable[[str], None] | None = None, write: bool = True) -> Run:
    """Train every point of every group, select λ, and write the run directory.

    ``progress`` receives model-epochs as they finish (see :func:`total_model_epochs`);
    ``log`` one line describing the sweep once the data is loaded.
    """
    path = None
    if write:
        name = cfg.data.dataset if not cfg.data.path else Path(cfg.data.path).stem
        path = check_run_dir(out or cfg.output.dir or default_run_dir(name))
    started, t0 = now(), time.perf_counter()
    groups, cv = train_all(cfg, progress, log)
    axes = list(groups[0].axes)
    parts = [_with_axes(g.result.summary, g.axes) for g in groups]
    summary = pd.concat([part if g.cv is None else _cv_means(part, g.cv) for part, g in zip(parts, groups)],
                        ignore_index=True)
    summary = summary[_column_order(summary.columns, axes)]
    history = pd.concat([_with_axes(g.result.history, g.axes) for g in groups], ignore_index=True)
    agg = aggregate(summary, axes)
    source = f"{cfg.sweep.cv}-fold cross-validation on the training part" if cv is not None else "validation split"
    selection = select(agg, axes, cfg.sweep.select, source)
    summary["selected"] = mark(summary, selection, axes)
    agg["selected"] = mark(agg, selection, axes)
    seconds = time.perf_counter() - t0
    info = manifest(cfg, groups, argv or [], started, seconds, summary)
    run = Run(path, groups, summary, history, agg, selection, info, seconds, cv)
    if write:
        tables = {"summary.csv": summary, "history.csv": history, "aggregate.csv": agg}
        if cv is not None:
            tables["cv.csv"] = cv
        write_run(path, tables, {"manifest.json": info, "selection.json": selection},
                  weight_arrays(groups) if cfg.output.weights else None)
    return run


def total_model_epochs(cfg: Config) -> int:
    """What ``progress`` adds up to over a whole run."""
    return len(cfg.axes()) * len(plan(cfg)) * cfg.train.epochs * (1 + cfg.sweep.cv)
