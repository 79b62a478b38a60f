"""One experiment from config to run: the library entry point behind ``l2cli sweep``.

A run trains every (λ, seed) point once per grid cell (a combination of the
extra sweep axes), and, with k-fold cross-validation, k more times per cell on
folds of the training part. λ is then chosen by validation loss
(:mod:`l2cli.selection`); the test rows are only ever used to report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import environment, manifest, numeric_warnings, plan
from .config import Config
from .data import Split, cv_folds
from .engine import Trained, run_points
from .errors import InputError
from .executors import open_executor
from .experiment import Experiment, Prepared, compute, prepare, prepare_data
from .journal import Journal
from .layout import Compute, choose
from .rundir import PROGRESS, Run, check_target, read_document, replaceable
from .selection import aggregate, fold_spread, mark, remarks, seed_spread, select, select_by_evidence, test_loss_of
from .summary import feature_table


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
CV_COLUMNS = ("lambda", "seed", "status", "epochs", "start", "objective", "grad_norm", "penalty", "weight_norm")


def cross_validate(exp: Experiment, folds: list[Split], pts: list[plan.Point], how: Compute, progress=None,
                   stores=None, executor=None) -> pd.DataFrame:
    """Train every point on each fold (see l2cli.data.cv_folds); one row per (λ, seed, fold).

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


def weight_arrays(cells: list[Cell]) -> dict[str, np.ndarray]:
    """weights.npz: row m of every array is row m of summary.csv.

    lambda, seed, group (M,); W1..WL (M, n_in, n_out) and b1..bL (M, n_out) when
    every cell has the same layer sizes, otherwise g<k>.W1 … per cell k; network, each cell's layer sizes,
    activation and loss (JSON text), which the readers check the manifest against.
    """
    from .runfiles import network_member

    out = {"lambda": np.concatenate([[p.lam for p in c.trained.points] for c in cells]),
           "seed": np.concatenate([[p.seed for p in c.trained.points] for c in cells]).astype(np.uint32),
           "group": np.concatenate([np.full(len(c.trained.points), k) for k, c in enumerate(cells)]),
           "network": network_member([{"layer_sizes": list(c.experiment.layer_sizes),
                                       "activation": c.experiment.spec.activation, "loss": c.experiment.spec.loss}
                                      for c in cells])}
    if len({c.experiment.layer_sizes for c in cells}) == 1:
        params = [c.trained.params for c in cells]
        for l in range(len(params[0].W)):
            out[f"W{l + 1}"] = np.concatenate([p.W[l] for p in params])
            out[f"b{l + 1}"] = np.concatenate([p.b[l] for p in params])
        return out
    for k, c in enumerate(cells):
        for l, (W, b) in enumerate(zip(c.trained.params.W, c.trained.params.b, strict=True), start=1):
            out[f"g{k}.W{l}"], out[f"g{k}.b{l}"] = W, b
    return out


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
    return (f"l2cli: {n * cells} models ({len(cfg.sweep.lambdas)} λ × {len(cfg.sweep.seeds)} seeds{extra}), "
            f"{networks} {cfg.model.activation}, {cfg.train.optimizer}, {budget(cfg)}"
            f"{f', {k}-fold cross-validation' if k else ''}, "
            f"{cfg.data.path or cfg.data.dataset} ({rows})")


def rows_text(s: Split) -> str:
    """'60 train / 60 test / 30 val': the rows of each part of a split."""
    return f"{len(s.X_train)} train / {len(s.X_test)} test" + (f" / {len(s.X_val)} val" if s.X_val is not None else "")


def budget(cfg: Config) -> str:
    t = cfg.train
    return f"up to {t.max_iter} iterations" if t.optimizer == "lbfgs" else f"{t.epochs} epochs"


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
    return [dataclasses.replace(asked, chunk_size=lay.chunk_size, workers=lay.workers, threads=lay.threads)
            for lay in laid]


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


def tabulate(cfg: Config, cells: list[Cell]) -> tuple[dict[str, pd.DataFrame | None], dict]:
    """The run's tables (summary, history, aggregate, features, cv) and its selection."""
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
    by_evidence = select_by_evidence(agg, keys) if "log_evidence_mean" in agg else None
    selection = by_evidence if cfg.sweep.select == "evidence" else by_validation
    if by_evidence is not None:  # both choices side by side, each with its test loss
        selection["by_validation"], selection["by_evidence"] = (test_loss_of(agg, keys, by_validation),
                                                                test_loss_of(agg, keys, by_evidence))
    majority = {tuple(c.values.values()): majority_share(c.experiment.split) for c in cells}
    selection["remarks"] = remarks(agg, keys, cells[0].experiment.split.task, majority)
    summary["selected"] = mark(summary, selection, keys)
    agg["selected"] = mark(agg, selection, keys)
    return {"summary": summary, "history": history, "aggregate": agg, "features": features, "cv": cv}, selection


def run_experiment(cfg: Config, out: str | Path | None = None, argv: list[str] | None = None,
                   progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None,
                   layouts: list[Compute] | None = None, overwrite: bool = False,
                   expected_fingerprints: list[str] | None = None, expected_data: str = "the replayed run's") -> Run:
    """Train every point of every grid cell, select λ, and write the run directory when ``out`` is given.

    Everything is checked before anything is written: the config, the output
    directory, the data of every cell. With ``out``, the directory is created
    and locked before training and records its progress (l2cli.journal), so an
    interrupted run continues with :func:`resume_experiment`. ``progress``
    receives model-epochs as they finish (see :func:`total_model_epochs`); ``log``
    the notes and the one line that describe the sweep; ``layouts`` and
    ``expected_fingerprints`` replay a recorded run (l2cli.verify): its layouts,
    and the data it must be trained on (``expected_data`` names that data in the
    InputError raised before any training otherwise).
    """
    cfg.validate()
    if cfg.sweep.portable:
        environment.check_portable()
    if out is not None and overwrite:  # before anything is read or written: what --overwrite would remove
        replaceable(out, cfg.data.path)
    elif out is not None:
        check_target(out)
    experiments = (prepare_cells(cfg, log, keep_raw=cfg.sweep.cv > 0) if expected_fingerprints is None
                   else prepare_recorded(cfg, expected_data))
    fingerprints = check_fingerprints(experiments, expected_fingerprints, expected_data)
    check_output_size(cfg, experiments)
    with executor_for(cfg) as executor:
        layouts = layouts or decide_layouts(cfg, experiments, executor.fixed_workers)
        journal = None if out is None else Journal.create(out, overwrite, cfg.data.path)
        record = {"config": cfg.to_dict(), "command": argv or [], "started": manifest.now(), "resumed": [],
                  "layouts": [dataclasses.asdict(c) for c in layouts],
                  "fingerprints": fingerprints}
        with kept_on_failure(journal):
            if journal:
                journal.write_plan(record)
            return complete(cfg, experiments, layouts, record, journal, progress, executor)


def executor_for(cfg: Config):
    """The executor sweep.executor names (l2cli.executors.open_executor), open while the run trains."""
    sweep = cfg.sweep
    return open_executor(sweep.executor, sweep.address, sweep.jobs, sweep.threads, sweep.checkpoint_s,
                         environment.portable_variables() if sweep.portable else None)


def resume_experiment(out: str | Path, given: Config | None = None, progress: Callable[[int], None] | None = None,
                      log: Callable[[str], None] | None = None) -> Run:
    """Continue the interrupted run in ``out``: its finished chunks are kept, its checkpoints continued, and
    the files are those an uninterrupted run writes. ``given``: a config whose explicitly given keys
    (Config.given) must agree with the run's."""
    journal = Journal.reopen(out)
    with kept_on_failure(journal):
        record = journal.read_plan()
        cfg = Config.from_dict(record["config"])
        if given is not None:
            check_same_config(given, cfg)
        experiments = prepare_cells(cfg, log, keep_raw=cfg.sweep.cv > 0)
        check_fingerprints(experiments, record["fingerprints"], f"the data the run in {out} started with")
        layouts = [Compute(**layout) for layout in record["layouts"]]
        record["resumed"].append(manifest.now())
        journal.write_plan(record)
        with executor_for(cfg) as executor:
            return complete(cfg, experiments, layouts, record, journal, progress, executor)


def recorded_config(out: str | Path) -> Config:
    """The config of the interrupted run in ``out`` (read without taking its lock)."""
    plan_file = Path(out) / PROGRESS / "plan.json"
    if not plan_file.exists() and not plan_file.is_symlink():
        raise InputError(f"--resume: {out} holds no interrupted run; there is nothing to continue")
    plan = read_document(plan_file)
    if not isinstance(plan.get("config"), dict):
        raise InputError(f"--resume: {plan_file} has no config: it was not written by l2cli or is damaged")
    return Config.from_dict(plan["config"])


#: Bytes a row of history.csv takes (about 10 numbers as text).
HISTORY_ROW_BYTES = 200


def output_bytes(cfg: Config, experiments: list[Experiment]) -> int:
    """An estimate, from above, of what a run writes: weights.npz (every model's parameters, float64) and
    history.csv (a row per recorded epoch of every model, folds included)."""
    models = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds)
    total = 0
    for exp in experiments:
        sizes = exp.layer_sizes
        params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        s = exp.schedule
        steps = s.max_iter if s.optimizer == "lbfgs" else s.epochs
        recorded = 2 + (steps // s.history_every if s.history_every else 0)
        total += models * (params * 8 * cfg.output.weights + recorded * HISTORY_ROW_BYTES * (1 + cfg.sweep.cv))
    return total


def check_output_size(cfg: Config, experiments: list[Experiment]) -> None:
    """Refuse, before any training, a run whose files would take more than output.max_mb."""
    need = output_bytes(cfg, experiments)
    if need > cfg.output.max_mb * 2**20:
        raise InputError(f"the run directory would take about {need / 2**20:,.0f} MiB (weights.npz and history.csv), "
                         f"more than output.max_mb = {cfg.output.max_mb:,}: fewer models, --set "
                         f"train.history_every=0, --set output.weights=false, or --set output.max_mb="
                         f"{int(need / 2**20) + 1}")


def prepare_recorded(cfg: Config, what: str) -> list[Experiment]:
    """The experiments of a recorded run's config (verify, predict, plot): its data path is the run's record,
    data not an instruction, so a file there that cannot be read as the run read its own is refused without
    a word of its content (a column name, a value) in the message."""
    try:
        return prepare_cells(cfg)
    except InputError as exc:
        if not cfg.data.path:
            raise
        from .source import check_regular

        check_regular(Path(cfg.data.path))  # "not found", "a FIFO": about the path, not the content
        raise InputError(f"{cfg.data.path} is not {what}: it cannot be read as the run read its data "
                         f"({type(exc).__name__}; its content is not shown)") from None


def check_fingerprints(experiments: list[Experiment], expected: list[str] | None, what: str) -> list[str]:
    """Each grid cell's data fingerprint (SHA-256), which must be the ``expected`` one when given: an
    InputError naming the cell otherwise (a changed file or dataset generator)."""
    found = [exp.split.fingerprint() for exp in experiments]
    for k, (have, want) in enumerate(zip(found, expected or found, strict=True)):
        if have != want:
            cell = f" of grid cell {k}" if len(found) > 1 else ""
            raise InputError(f"the data{cell} is not {what}: fingerprint {have[:12]}… instead of {want[:12]}… "
                             "(a changed file or dataset generator)")
    return found


def check_same_config(given: Config, recorded: Config) -> None:
    """Every key given explicitly (a file, --set, a flag) must have the run's value."""
    differ = [k for k in sorted(given.given) if k != "output.dir" and given.get(k) != recorded.get(k)]
    if given.grid and given.grid != recorded.grid:
        differ.append("grid")
    if differ:
        shown = ", ".join(f"{k} ({given.get(k) if k != 'grid' else given.grid!r} here, "
                          f"{recorded.get(k) if k != 'grid' else recorded.grid!r} in the run)" for k in differ)
        raise InputError(f"--resume continues a run with its own config, which differs in {shown}")


@contextlib.contextmanager
def kept_on_failure(journal: Journal | None):
    """On any failure or interrupt, let go of the run directory and keep its progress for --resume."""
    try:
        yield
    except BaseException:
        if journal:
            journal.release()
        raise


def complete(cfg: Config, experiments: list[Experiment], layouts: list[Compute], record: dict,
             journal: Journal | None, progress, executor=None) -> Run:
    """Train what is left, tabulate, select, and write the files (then the progress is removed)."""
    t0 = time.perf_counter()
    counts: Counter = Counter()
    with numeric_warnings.counted(counts):
        cells = train_cells(cfg, experiments, layouts, journal, progress, executor)
        curvature = add_curvature(cfg, cells)
        tables, selection = tabulate(cfg, cells)
    for cell in cells:
        counts.update(cell.trained.warnings)
    info = manifest.build(cfg, cells, record["command"], record["started"], time.perf_counter() - t0,
                          tables["summary"], record["fingerprints"])
    info["resumed"] = record["resumed"]
    info["curvature"] = curvature
    info["numeric_warnings"] = numeric_warnings.record(counts, tables["summary"])
    if journal and cfg.data.path:  # found again from wherever the run directory and the data move together
        info["data"]["path_relative_to_run"] = os.path.relpath(Path(cfg.data.path).resolve(), journal.path.resolve())
    run = Run(info, selection, None, tables, weight_arrays(cells))
    if journal:
        run.save(journal.path, weights=cfg.output.weights)
        journal.finish()
    return run


def add_curvature(cfg: Config, cells: list[Cell]) -> dict:
    """The curvature diagnostics (l2cli.diagnostics) of every cell's models, as columns of its summary, when
    sweep.curvature says so; what was decided (manifest.json's ``curvature``: no timing, so that a resumed run
    writes the bytes of an uninterrupted one)."""
    from .diagnostics import columns, decide

    models = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds)
    setting = cfg.sweep.curvature
    if setting == "auto" and cfg.sweep.select == "evidence":  # the rule needs them, whatever they cost
        setting = "on"
    decisions = [decide(setting, c.experiment, models * len(cells)) for c in cells]
    for cell, decision in zip(cells, decisions, strict=True):
        if decision.method is not None:
            extra = columns(cell.experiment, cell.trained, decision.method)
            summary = cell.trained.summary.reset_index(drop=True)
            cell.trained.summary = pd.concat([summary, extra], axis=1)
    return {"methods": [d.method for d in decisions], "reason": decisions[0].reason}


def total_models(cfg: Config) -> int:
    """How many models a run trains: λ × seeds × grid cells, and again on each fold with cross-validation."""
    return len(cfg.sweep.lambdas) * len(cfg.sweep.seeds) * len(cfg.cells()) * (1 + cfg.sweep.cv)


def total_model_epochs(cfg: Config) -> int:
    """What ``progress`` adds up to over a whole run."""
    per_model = sum(c.train.max_iter if c.train.optimizer == "lbfgs" else c.train.epochs
                    for c in (cfg.at(v) for v in cfg.cells()))
    return len(cfg.sweep.lambdas) * len(cfg.sweep.seeds) * per_model * (1 + cfg.sweep.cv)
