"""Where chunks of points train: one protocol, an implementation per place (as httpx's transports).

    InProcess      local.py   this process, chunk after chunk
    Forked         local.py   this process and forked workers, which read the experiment copy-on-write
    DaskExecutor   dask.py    a Dask cluster (pip install 'l2cli[dask]')

Every executor trains the same unit of work, :func:`~l2cli.executors.chunk.train_chunk`, which gives the
same numbers wherever it runs; :func:`open_executor` is the one place that turns ``sweep.executor`` into an
executor (the sweep and verify both come through it). A new executor is a module here with a class of the
:class:`Executor` protocol, and a branch of open_executor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol

from ..vocabulary import choices
from .chunk import ChunkResult, Done, Job, Progress, train_chunk
from .local import Forked, InProcess

__all__ = ["ChunkResult", "Executor", "Forked", "InProcess", "Job", "open_executor", "train_chunk"]


class Executor(Protocol):
    #: the workers chunks are cut for (a cluster's); 0 when the layout chooses from this machine's cores
    fixed_workers: int

    def sized(self, workers: int) -> Executor:
        """The executor for a layout of ``workers`` processes (the local ones fork as many; a cluster is as
        it is)."""

    def run(self, exp, jobs: list[Job], progress: Progress | None = None,
            done: Done | None = None) -> Sequence[ChunkResult]:
        """Train every job's chunk of ``exp`` (from its checkpoint, when it has one), call done(i, result) as
        job i finishes and progress(model-epochs) as training goes, and give the results in job order."""


@contextlib.contextmanager
def open_executor(name: str, address: str, jobs: int, threads: int, checkpoint_s: float,
                  kernels: dict[str, str] | None = None) -> Iterator[Executor]:
    """The executor called ``name`` (one of choices.EXECUTORS), open while the block runs: for dask, connected
    now (to ``address``, or a LocalCluster of at most ``jobs`` workers), its workers checked to run ``kernels``
    (the portable ones) when given, and closed at the end; each task on ``threads`` BLAS threads (0: one),
    handing its state back every ``checkpoint_s`` seconds."""
    assert name in choices.EXECUTORS, name
    if name == "local":
        yield InProcess()
        return
    from . import dask

    client = dask.connect(address, jobs)
    try:
        if kernels:
            dask.check_kernels(client, kernels)
        yield dask.DaskExecutor(client, threads or 1, checkpoint_s)
    finally:
        dask.close(client)
