"""The grid cells of a sweep: each one's experiment, layout and training, and the tables and weights of all of
them together."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config
from ..data.builtin import Split, cv_folds
from ..optim import METHODS
from ..optim import budget as budget_of
from ..rundir.journal import Journal
from ..training import plan
from ..training.summary import feature_table
from .crossval import cross_validate, cv_means
from .engine import Trained, run_points
from .experiment import Experiment, Prepared, compute, prepare, prepare_data
from .layout import Compute, choose
from .selection import aggregate, fold_spread, mark, remarks, seed_spread, select, select_by_evidence, test_loss_of


@dataclass
class Cell:
    """The models of one grid cell: its axis values, its experiment and what trained."""

    values: dict[str, Any]  # "section.key" -> the value as a table cell shows it
    experiment: Experiment
    trained: Trained
    cv: pd.DataFrame | None = None


def cell_value(value: Any) -> Any:
    """How an axis value appears in a table cell: lists as JSON text, the rest as is."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def with_cell_columns(frame: pd.DataFrame, values: dict[str, Any]) -> pd.DataFrame:
    """Insert one column per extra axis after the seed column."""
    frame = frame.copy()
    at = list(frame.columns).index("seed") + 1 if "seed" in frame.columns else 0
    for offset, (name, value) in enumerate(values.items()):
        frame.insert(at + offset, name, [value] * len(frame))
    return frame


def column_order(columns, grid_keys: list[str]) -> list[str]:
    """Summary columns in one fixed order, whatever the grid cells and cross-validation added."""
    norms = sorted((c for c in columns if c.startswith("norm_W")), key=lambda c: int(c[len("norm_W"):]))
    canonical = ["lambda", "seed", *grid_keys, "status", "epochs", "start", "train_loss", "val_loss", "test_loss",
                 "objective", "grad_norm", "penalty", "weight_norm", *norms, "train_accuracy", "val_accuracy",
                 "test_accuracy", "train_r2", "val_r2", "test_r2"]
    return [c for c in canonical if c in columns] + [c for c in columns if c not in canonical]


#: the summary columns cv.csv keeps besides the training and validation measurements

def describe(cfg: Config, experiments: list[Experiment]) -> str:
    """The one line that says what a run trains: models, every cell's network, optimizer, data."""
    cells, k = len(cfg.cells()), cfg.sweep.cv
    networks = ", ".join(dict.fromkeys("-".join(map(str, e.layer_sizes)) for e in experiments))
    per_cell = [rows_text(e.split) for e in experiments]
    if len(set(per_cell)) == 1:
        rows = f"{per_cell[0]} rows"
    else:  # the rows differ between grid cells (data.n_train or the dataset is an axis): say each
        rows = "; ".join(f"{', '.join(f'{a}={v}' for a, v in cell.items())}: {text}"
                         for cell, text in zip(cfg.cells(), per_cell, strict=True)) + " rows"
    n = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds)
    extra = f" × {cells} grid cells" if cells > 1 else ""
    folds = (f", {k}-fold cross-validation: {n * cells * (k + 1):,} trainings ({n * cells:,} models on {k} folds "
             f"each, and their {n * cells:,} refits)") if k else ""
    return (f"l2cli: {n * cells} models ({len(cfg.sweep.lambdas)} λ × {len(cfg.sweep.seeds)} seeds{extra}), "
            f"{networks} {cfg.model.activation}, {cfg.train.optimizer}, {budget(cfg)}{folds}, "
            f"{cfg.data.path or cfg.data.dataset} ({rows})")


def rows_text(s: Split) -> str:
    """'60 train / 60 test / 30 val': the rows of each part of a split."""
    return f"{len(s.X_train)} train / {len(s.X_test)} test" + (f" / {len(s.X_val)} val" if s.X_val is not None else "")


def budget(cfg: Config) -> str:
    t = cfg.train
    method = METHODS[t.optimizer]
    return f"{'up to ' if method.stops_itself else ''}{budget_of(t)} {method.unit}s"


def prepare_cells(cfg: Config, log: Callable[[str], None] | None = None, keep_raw: bool = True) -> list[Experiment]:
    """Every grid cell's experiment: all the data is loaded and checked before any training. keep_raw: keep
    the raw training rows (a sweep needs them for cross-validation only; predict and plot always)."""
    shared: dict[str, Prepared] = {}  # by [data] keys: cells that differ in other keys share one copy of the data
    experiments = []
    for values in cfg.cells():
        cell = cfg.at(values)
        key = json.dumps(dataclasses.asdict(cell.data), sort_keys=True, default=str)
        if key not in shared:
            shared[key] = prepare_data(cell, keep_raw)
        experiments.append(prepare(cell, keep_raw, shared[key]))
    if log:
        for note in dict.fromkeys([*cfg.notes, *(n for exp in experiments for n in exp.notes)]):
            log(f"l2cli: {note}")
        log(describe(cfg, experiments))
    return experiments


def decide_layouts(cfg: Config, experiments: list[Experiment], cluster_workers: int = 0) -> list[Compute]:
    """Each cell's chunk size, workers and BLAS threads, fixed before training and recorded in the plan, so
    that a resumed or verified run trains in the same chunks. On a cluster, chunks are cut for its workers
    (cluster_workers), each training on one BLAS thread unless sweep.threads says otherwise."""
    n = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds)
    asked = compute(cfg)
    if cluster_workers:
        asked = dataclasses.replace(asked, workers=asked.workers or cluster_workers, threads=asked.threads or 1)
    laid = [choose(exp, n, asked) for exp in experiments]
    return [asked.pinned(lay) for lay in laid]


def train_cells(cfg: Config, experiments: list[Experiment], layouts: list[Compute], journal: Journal | None = None,
                progress=None, executor=None) -> list[Cell]:
    """Train every grid cell (and its cross-validation folds), storing chunks in the journal when there is one."""
    pts = plan.points(cfg.sweep.lambdas, cfg.sweep.seeds)
    checkpoint_s = cfg.sweep.checkpoint_s
    cells = []
    for k, (values, exp, how) in enumerate(zip(cfg.cells(), experiments, layouts, strict=True)):
        def stores(fold, k=k):
            return journal.store(f"c{k}-fold{fold}", checkpoint_s) if journal else None

        shown = {name: cell_value(x) for name, x in values.items()}
        cv = None
        if cfg.sweep.cv:
            folds = cv_folds(exp.split, cfg.sweep.cv, cfg.data.seed, cfg.data.standardize)
            cv = with_cell_columns(cross_validate(exp, folds, pts, how, progress, stores, executor), shown)
        main = journal.store(f"c{k}-all", checkpoint_s) if journal else None
        cells.append(Cell(shown, exp, run_points(exp, pts, how, progress, main, executor), cv))
        if hasattr(progress, "cell_done") and len(cfg.cells()) > 1:
            progress.cell_done(shown)
    return cells


def majority_share(split: Split) -> float | None:
    """The test accuracy of always predicting the training rows' most common class (None for regression)."""
    if split.task != "classification" or split.y_test is None or not len(split.y_test):
        return None
    values, counts = np.unique(split.y_train, return_counts=True)
    return float(np.mean(split.y_test == values[np.argmax(counts)]))


def tabulate(cfg: Config, cells: list[Cell], notes: list[str] | None = None) -> tuple[dict[str, pd.DataFrame | None],
                                                                                dict]:
    """The run's tables (summary, history, aggregate, features, cv) and its selection; ``notes``: why models
    got no evidence (l2cli.sweeps.diagnostics), for the evidence choice."""
    keys = list(cfg.grid)
    parts = [with_cell_columns(c.trained.summary, c.values) for c in cells]
    parts = [p if c.cv is None else cv_means(p, c.cv) for p, c in zip(parts, cells, strict=True)]
    summary = pd.concat(parts, ignore_index=True)
    summary = summary[column_order(summary.columns, keys)]
    history = pd.concat([with_cell_columns(c.trained.history, c.values) for c in cells], ignore_index=True)
    features = pd.concat([with_cell_columns(feature_table(c.experiment, c.trained.points, c.trained.params), c.values)
                          for c in cells], ignore_index=True)
    agg = aggregate(summary, keys)
    cv = pd.concat([c.cv for c in cells], ignore_index=True) if cfg.sweep.cv else None
    source = f"{cfg.sweep.cv}-fold cross-validation on the training part" if cv is not None else "validation split"
    spread = fold_spread(agg, keys, cv) if cv is not None else seed_spread(agg, keys, summary)
    by_validation = select(agg, keys, "min" if cfg.sweep.select == "evidence" else cfg.sweep.select, source, spread)
    by_evidence = select_by_evidence(agg, keys, notes) if "log_evidence_mean" in agg else None
    selection = by_evidence if cfg.sweep.select == "evidence" else by_validation
    if by_evidence is not None:  # both choices side by side, each with its test loss
        left_out = {k: v for k, v in by_evidence.items() if k in ("n_left_out", "left_out_reason")}
        selection["by_validation"], selection["by_evidence"] = (test_loss_of(agg, keys, by_validation),
                                                                {**test_loss_of(agg, keys, by_evidence), **left_out})
    majority = {tuple(c.values.values()): majority_share(c.experiment.split) for c in cells}
    selection["remarks"] = remarks(agg, keys, cells[0].experiment.split.task, majority)
    summary["selected"] = mark(summary, selection, keys)
    agg["selected"] = mark(agg, selection, keys)
    return {"summary": summary, "history": history, "aggregate": agg, "features": features, "cv": cv}, selection
