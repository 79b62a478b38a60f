"""The threads executor: chunks in threads of this process, for where forking is not wanted (a notebook or a
server that holds threads or locks a fork would copy, a platform that spawns instead of forking).

NumPy releases the GIL in its products, so chunks overlap there; the Python of each step does not. The numbers
are the chunk's own (l2cli.executors.chunk.train_chunk), whatever thread trains it. Every chunk shares this
process's BLAS threads (the layout's count, set once by the engine)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed

from .chunk import ChunkResult, Done, Job, Progress
from .local import InProcess


class Threads:
    """Up to ``workers`` chunks at once, each in a thread of this process."""

    fixed_workers = 0  # the layout chooses the workers from this machine's cores

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def sized(self, workers: int) -> Threads:
        return Threads(workers)

    def run(self, exp, jobs: list[Job], progress: Progress | None = None,
            done: Done | None = None) -> list[ChunkResult]:
        results: list[ChunkResult | None] = [None] * len(jobs)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="l2cli-chunk") as pool:
            futures = {pool.submit(InProcess.run_one, exp, job, progress): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if done:
                    done(i, results[i])
        return results
