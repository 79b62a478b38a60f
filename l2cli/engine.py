"""The sweep engine: lay the points out in chunks, train the chunks on an executor, gather the results.

The plan (:mod:`l2cli.plan`) says which points; the layout
(:mod:`l2cli.layout`) how many per chunk and how many processes; an executor
(:mod:`l2cli.executors`) where the chunks train. None of them changes a number.
This module does no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from .blas import blas_info, blas_threads
from .executors import ChunkResult, Forked, InProcess, Job
from .layout import Compute, Layout, choose
from .network import Params
from .plan import Point, chunks
from .summary import history_frame, summarize


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
               progress: Callable[[int], None] | None = None, store=None, executor=None) -> Trained:
    """Train every point; ``progress`` receives model-epochs as they finish (len(pts) × epochs in all), and,
    when it has a ``chunk_done`` method, the summary rows of each chunk as it finishes.

    compute: chunk size, workers and threads as asked (default: all chosen here).
    store: where finished chunks and checkpoints are kept (l2cli.journal.ChunkStore): chunks found
    there are not trained again, and every chunk is stored as it finishes.
    executor: where the chunks train (default: this process and forked workers, as the layout says;
    l2cli.cluster.DaskExecutor for a cluster).
    """
    layout = choose(exp, len(pts), compute or Compute())
    parts = chunks(pts, layout.chunk_size)
    results = [None] * len(parts)
    finished = getattr(progress, "chunk_done", None)  # a progress report that also wants each chunk's rows
    for k, trained in enumerate(store.load(k) if store else None for k in range(len(parts))):
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

    workers = min(layout.workers, len(jobs))
    executor = executor or (Forked(workers) if workers > 1 else InProcess())
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
    return Trained(pts, params, summary, history, layout, blas, sum((r.warnings for r in results), Counter()))
