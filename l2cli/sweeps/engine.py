"""The sweep engine: lay the points out in chunks, train the chunks on an executor, gather the results.

The plan (:mod:`l2cli.training.plan`) says which points; the layout
(:mod:`l2cli.sweeps.layout`) how many per chunk and how many processes; an executor
(:mod:`l2cli.executors`) where the chunks train. None of them changes a number.
This module does no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..executors import ChunkResult, Executor, InProcess, Job
from ..machine.blas import blas_info, blas_threads
from ..maths.network import Params
from ..training.plan import Point
from ..training.summary import history_frame, summarize
from ..training.warm import STARTS
from .layout import Compute, Layout, choose


@dataclass
class Trained:
    """The trained models of a list of points, in point order, with their summary and history tables."""

    points: list[Point]
    params: Params
    summary: pd.DataFrame
    history: pd.DataFrame
    layout: Layout
    blas: list[dict] = field(default_factory=list)  # the BLAS libraries as the points trained on them
    warnings: Counter = field(default_factory=Counter)  # numeric warnings of the chunks trained now, by message


def run_points(exp, pts: list[Point], compute: Compute | None = None,
               progress: Callable[[int], None] | None = None, store=None, executor: Executor | None = None) -> Trained:
    """Train every point; ``progress`` receives model-epochs as they finish (len(pts) × epochs in all), and,
    when it has a ``chunk_done`` method, the summary rows of each chunk as it finishes.

    compute: chunk size, workers and threads as asked (default: all chosen here).
    store: where finished chunks and checkpoints are kept (l2cli.rundir.journal.ChunkStore): chunks found
    there are not trained again, and every chunk is stored as it finishes.
    executor: where the chunks train (l2cli.executors; default: this process and forked workers, as the
    layout says).
    """
    starts = STARTS[exp.path]
    layout = choose(exp, len(pts), compute or Compute(), path_length=starts.path_length(pts))
    parts = starts.chunks(pts, layout.chunk_size)
    results = [None] * len(parts)
    finished = getattr(progress, "chunk_done", None)  # a progress report that also wants each chunk's rows
    loaded = (store.load(k, len(parts[k]), exp.layer_sizes) if store else None for k in range(len(parts)))
    for k, trained in enumerate(loaded):
        if trained is not None:
            results[k] = ChunkResult(trained, summarize(exp, parts[k], trained))
            if progress:
                progress(len(parts[k]) * exp.schedule.units)
            if finished:
                finished(results[k].summary)
    todo = [k for k, r in enumerate(results) if r is None]
    jobs = [Job(parts[k], store.checkpoint(k) if store else None) for k in todo]

    def done(i: int, result: ChunkResult) -> None:
        if store:
            store.save(todo[i], result.trained)
        if finished:
            finished(result.summary)

    executor = (executor or InProcess()).sized(min(layout.workers, len(jobs)))
    # Set once, before any fork, and inherited by the workers: OpenBLAS restarts its threads whenever
    # the count is next set after a fork, and each new thread spins ~0.1 s of CPU, a core the others need.
    with blas_threads(layout.threads):
        blas = blas_info()
        for k, result in zip(todo, executor.run(exp, jobs, progress, done) if jobs else [], strict=True):
            results[k] = result
    params = Params.concat([r.trained.params for r in results])
    history = pd.concat([history_frame(c, r.trained.history) for c, r in zip(parts, results, strict=True)],
                        ignore_index=True)
    summary = pd.concat([r.summary for r in results], ignore_index=True)
    if starts.reorders:  # chunks of whole paths: back to the points' order
        params, summary, history = in_point_order(pts, parts, results, params, summary, history)
    return Trained(pts, params, summary, history, layout, blas, sum((r.warnings for r in results), Counter()))


def in_point_order(pts: list[Point], parts: list[list[Point]], results, params: Params, summary: pd.DataFrame,
                   history: pd.DataFrame):
    """The parameters, summary and history of chunks in any order of the points, in the order of ``pts``
    (history: by point, then epoch, as chunks of consecutive points give it)."""
    where = {p.index: i for i, p in enumerate(pts)}
    rank = np.array([where[p.index] for part in parts for p in part])
    order = np.argsort(rank, kind="stable")
    offsets = np.cumsum([0, *(len(part) for part in parts[:-1])])
    model_rank = np.concatenate([rank[off + r.trained.history["model"]] for off, r in zip(offsets, results, strict=True)
                                 if r.trained.history]) if len(history) else np.zeros(0, dtype=int)
    history = history.iloc[np.argsort(model_rank, kind="stable")].reset_index(drop=True)
    return params.take(order), summary.iloc[order].reset_index(drop=True), history
