"""One experiment from config to run: the library entry point behind ``l2cli sweep``.

A run trains every (λ, seed) point once per grid cell (a combination of the
extra sweep axes), and, with k-fold cross-validation, k more times per cell on
folds of the training part. λ is then chosen by validation loss
(:mod:`l2cli.sweeps.selection`); the test rows are only ever used to report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..config import Config
from ..errors import InputError
from ..executors import open_executor
from ..machine import environment
from ..optim import budget
from ..rundir import manifest
from ..rundir.files import weight_arrays
from ..rundir.journal import Journal
from ..rundir.run import Run, check_target, plan_file, read_document, replaceable
from ..training import numeric_warnings
from .cells import Cell, decide_layouts, prepare_cells, tabulate, train_cells
from .experiment import Experiment
from .layout import Compute


def run_experiment(cfg: Config, out: str | Path | None = None, argv: list[str] | None = None,
                   progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None,
                   layouts: list[Compute] | None = None, overwrite: bool = False,
                   expected_fingerprints: list[str] | None = None, expected_data: str = "the replayed run's") -> Run:
    """Train every point of every grid cell, select λ, and write the run directory when ``out`` is given.

    Everything is checked before anything is written: the config, the output
    directory, the data of every cell. With ``out``, the directory is created
    and locked before training and records its progress (l2cli.rundir.journal), so an
    interrupted run continues with :func:`resume_experiment`. ``progress``
    receives model-epochs as they finish (see :func:`total_model_epochs`); ``log``
    the notes and the one line that describe the sweep; ``layouts`` and
    ``expected_fingerprints`` replay a recorded run (l2cli.tools.verify): its layouts,
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
        layouts = [Compute.of(layout) for layout in record["layouts"]]
        record["resumed"].append(manifest.now())
        journal.write_plan(record)
        with executor_for(cfg) as executor:
            return complete(cfg, experiments, layouts, record, journal, progress, executor)


def recorded_config(out: str | Path) -> Config:
    """The config of the interrupted run in ``out`` (read without taking its lock)."""
    plan = plan_file(out)
    if not plan.exists() and not plan.is_symlink():
        raise InputError(f"--resume: {out} holds no interrupted run; there is nothing to continue")
    doc = read_document(plan)
    if not isinstance(doc.get("config"), dict):
        raise InputError(f"--resume: {plan} has no config: it was not written by l2cli or is damaged")
    return Config.from_dict(doc["config"])


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
        steps = budget(s)
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
        from ..data.source import check_regular

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
        tables, selection = tabulate(cfg, cells, curvature["notes"])
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
    """The curvature diagnostics (l2cli.sweeps.diagnostics) of every cell's models, as columns of its summary, when
    sweep.curvature says so; what was decided (manifest.json's ``curvature``: no timing, so that a resumed run
    writes the bytes of an uninterrupted one)."""
    from .diagnostics import columns, decide

    models = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds)
    setting = cfg.sweep.curvature
    if setting == "auto" and cfg.sweep.select == "evidence":  # the rule needs them, whatever they cost
        setting = "on"
    decisions = [decide(setting, c.experiment, models * len(cells)) for c in cells]
    notes = []
    for cell, decision, values in zip(cells, decisions, cfg.cells(), strict=True):
        if decision.method is not None:
            extra = columns(cell.experiment, cell.trained, decision.method, cfg.at(values).model.bias_precision)
            summary = cell.trained.summary.reset_index(drop=True)
            cell.trained.summary = pd.concat([summary, extra.frame], axis=1)
            notes += [note] if (note := extra.note()) else []
    return {"methods": [d.method for d in decisions], "reason": decisions[0].reason, "notes": notes}


def total_models(cfg: Config) -> int:
    """How many models a run trains: λ × seeds × grid cells, and again on each fold with cross-validation."""
    return len(cfg.sweep.lambdas) * len(cfg.sweep.seeds) * len(cfg.cells()) * (1 + cfg.sweep.cv)


def total_model_epochs(cfg: Config) -> int:
    """What ``progress`` adds up to over a whole run."""
    per_model = sum(budget(c.train) for c in (cfg.at(v) for v in cfg.cells()))
    return len(cfg.sweep.lambdas) * len(cfg.sweep.seeds) * per_model * (1 + cfg.sweep.cv)
