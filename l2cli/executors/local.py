"""The local executors: chunks in this process (InProcess), or in this process and forked workers (Forked)."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..training.checkpoint import Checkpoint
from ..training.plan import Point
from .chunk import ChunkResult, Done, Job, Progress, train_chunk


class InProcess:
    """Chunks one after another in this process; progress after every epoch."""

    fixed_workers = 0  # the layout chooses the processes from this machine's cores

    @staticmethod
    def sized(workers: int):
        """Forked workers when the layout asks for several processes, else this executor."""
        return Forked(workers) if workers > 1 else InProcess()

    def run(self, exp, jobs: list[Job], progress: Progress | None = None,
            done: Done | None = None) -> list[ChunkResult]:
        results = []
        for i, job in enumerate(jobs):
            results.append(self.run_one(exp, job, progress))
            if done:
                done(i, results[-1])
        return results

    @staticmethod
    def run_one(exp, job: Job, progress: Progress | None) -> ChunkResult:
        """Models that stop early count as done: the chunk always reports len(points) × epochs."""
        counted = [0]

        def on_epoch(n: int) -> None:
            counted[0] += n
            progress(n)

        result = train_chunk(exp, job.points, on_epoch if progress else None, job.checkpoint)
        if progress:
            progress(len(job.points) * exp.schedule.units - counted[0])
        return result


def _watch_parent(parent: int) -> None:
    """In a worker: exit when the process that started it is gone (even killed by SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the main process decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # Linux: the kernel sends SIGKILL when the parent dies
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:  # everywhere: look every 0.2 s
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


#: The experiments of the Forked executors running now, by id: a forked worker reads its experiment (the data
#: above all) from the pages it shares with this process, copy-on-write, instead of receiving a pickled copy of
#: it with every chunk.
_INHERITED: dict[int, object] = {}


def train_inherited(exp, points: list[Point], checkpoint: Checkpoint | None) -> ChunkResult:
    """train_chunk in a worker, ``exp`` being the experiment itself or its key in _INHERITED."""
    return train_chunk(_INHERITED[exp] if isinstance(exp, int) else exp, points, None, checkpoint)


class Forked:
    """This process and ``workers - 1`` forked ones; progress as chunks finish (per epoch for this one's).

    This process takes the first chunk, then any chunk no worker has started,
    so it never waits idle while there is work. The BLAS thread count must be
    set before ``run`` (see l2cli.machine.blas): the forked workers inherit it. When the
    run stops (an interrupt, a signal, an error), the workers are killed at once.
    """

    fixed_workers = 0
    sized = InProcess.sized

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, exp, jobs: list[Job], progress: Progress | None = None,
            done: Done | None = None) -> list[ChunkResult]:
        forking = "fork" in multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if forking else None)
        results: list[ChunkResult | None] = [None] * len(jobs)
        pool = ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=context, initializer=_watch_parent,
                                   initargs=(os.getpid(),))
        key = id(exp)
        _INHERITED[key] = exp  # forked workers find it in the memory they share with this process
        shared = key if forking else exp
        try:
            futures = {pool.submit(train_inherited, shared, job.points, job.checkpoint): i
                       for i, job in enumerate(jobs) if i > 0}
            self._run_here(exp, jobs, futures, results, progress, done)
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if done:
                    done(i, results[i])
                if progress:
                    progress(len(jobs[i].points) * exp.schedule.units)
        except BaseException:  # an interrupt, a signal or a failed chunk: stop every worker now
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            _INHERITED.pop(key, None)
        pool.shutdown()
        return results  # type: ignore[return-value]

    @staticmethod
    def _run_here(exp, jobs, futures: dict, results: list, progress, done) -> None:
        """Train job 0 here, then take back the last job no worker has started, while there is one."""
        mine = [0]
        while mine:
            i = mine.pop()
            results[i] = InProcess.run_one(exp, jobs[i], progress)
            if done:
                done(i, results[i])
            for future in reversed(list(futures)):
                if future.cancel():
                    mine.append(futures.pop(future))
                    break
