"""Where chunks of points train: in this process, or in this process and forked worker processes.

Every executor has one method, ``run(exp, chunks, progress)``: train these
chunks, give back their results in chunk order. The unit of work is
:func:`train_chunk`, which gives the same numbers in whichever process runs it.
A new executor (a cluster) only has to map that function over the chunks.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .network import init_params
from .plan import Point
from .summary import summarize
from .train import TrainResult, init_rng, train

Progress = Callable[[int], None]


@dataclass
class ChunkResult:
    """What training one chunk of points gives: the trained stack and its summary rows."""

    trained: TrainResult
    summary: pd.DataFrame


def train_chunk(exp, points: list[Point], on_epoch: Progress | None = None) -> ChunkResult:
    """Train the points together as one stack from their seeded initial weights, and summarize them."""
    params = init_params(exp.layer_sizes, [init_rng(p.seed) for p in points], exp.init, exp.dtype)
    lam = np.array([p.lam for p in points])
    trained = train(params, lam, [p.seed for p in points], exp.arrays, exp.spec, exp.schedule, on_epoch)
    return ChunkResult(trained, summarize(exp, points, trained))


class InProcess:
    """Chunks one after another in this process; progress after every epoch."""

    def run(self, exp, chunks: list[list[Point]], progress: Progress | None = None) -> list[ChunkResult]:
        return [self.run_one(exp, chunk, progress) for chunk in chunks]

    @staticmethod
    def run_one(exp, chunk: list[Point], progress: Progress | None) -> ChunkResult:
        """Models that stop early count as done: the chunk always reports len(chunk) × epochs."""
        done = [0]

        def on_epoch(n: int) -> None:
            done[0] += n
            progress(n)

        result = train_chunk(exp, chunk, on_epoch if progress else None)
        if progress:
            progress(len(chunk) * exp.schedule.epochs - done[0])
        return result


class Forked:
    """This process and ``workers - 1`` forked ones; progress as chunks finish (per epoch for this one's).

    This process takes the first chunk, then any chunk no worker has started,
    so it never waits idle while there is work. The BLAS thread count must be
    set before ``run`` (see l2cli.blas): the forked workers inherit it.
    """

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, exp, chunks: list[list[Point]], progress: Progress | None = None) -> list[ChunkResult]:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        results: list[ChunkResult | None] = [None] * len(chunks)
        with ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=context) as pool:
            futures = {pool.submit(train_chunk, exp, chunk): k for k, chunk in enumerate(chunks) if k > 0}
            try:
                self._run_here(exp, chunks, futures, results, progress)
                for future in as_completed(futures):
                    k = futures[future]
                    results[k] = future.result()
                    if progress:
                        progress(len(chunks[k]) * exp.schedule.epochs)
            except BaseException:  # an interrupt or a failed chunk: drop the queued chunks at once
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return results  # type: ignore[return-value]

    @staticmethod
    def _run_here(exp, chunks, futures: dict, results: list, progress) -> None:
        """Train chunk 0 here, then take back the last chunk no worker has started, while there is one."""
        mine = [0]
        while mine:
            k = mine.pop()
            results[k] = InProcess.run_one(exp, chunks[k], progress)
            for future in reversed(list(futures)):
                if future.cancel():
                    mine.append(futures.pop(future))
                    break
