"""Where chunks of points train: one protocol, an implementation per place (as httpx's transports).

    local     InProcess      local.py     this process, chunk after chunk
              Forked         local.py     this process and forked workers, which read the experiment copy-on-write
    threads   Threads        threads.py   threads of this process
    dask      DaskExecutor   dask.py      a Dask cluster (pip install 'l2cli[dask]')

Every executor trains the same unit of work, :func:`~l2cli.executors.chunk.train_chunk`, which gives the
same numbers wherever it runs; :func:`open_executor` is the one place that turns ``sweep.executor`` into an
executor (the sweep and verify both come through it). A new executor is a module here with a class of the
:class:`Executor` protocol, its name in EXECUTORS and a branch of open_executor: a change in this folder
(l2cli/executors/threads.py is the example). This module is light (the config reads EXECUTORS): the
machinery loads when an executor is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol

#: every value of sweep.executor, with its one-line help (the config's choices and help come from here)
EXECUTORS = {"local": "this process and forked workers", "threads": "threads of this process (no fork)",
             "dask": "a Dask cluster; pip install 'l2cli[dask]'"}

#: the names re-exported from the modules that define them, loaded when first used
_LAZY = {"ChunkResult": "chunk", "Done": "chunk", "Job": "chunk", "Progress": "chunk", "train_chunk": "chunk",
         "Forked": "local", "InProcess": "local", "Threads": "threads"}

__all__ = ["EXECUTORS", "Executor", "open_executor", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


class Executor(Protocol):
    #: the workers chunks are cut for (a cluster's); 0 when the layout chooses from this machine's cores
    fixed_workers: int

    def sized(self, workers: int) -> Executor:
        """The executor for a layout of ``workers`` processes (the local ones fork as many; a cluster is as
        it is)."""

    def run(self, exp, jobs: list, progress=None, done=None) -> Sequence:
        """Train every job's chunk of ``exp`` (from its checkpoint, when it has one), call done(i, result) as
        job i finishes and progress(model-epochs) as training goes, and give the results in job order."""


@contextlib.contextmanager
def open_executor(name: str, address: str, jobs: int, threads: int, checkpoint_s: float,
                  kernels: dict[str, str] | None = None) -> Iterator[Executor]:
    """The executor called ``name`` (one of EXECUTORS), open while the block runs: for dask, connected
    now (to ``address``, or a LocalCluster of at most ``jobs`` workers), its workers checked to run ``kernels``
    (the portable ones) when given, and closed at the end; each task on ``threads`` BLAS threads (0: one),
    handing its state back every ``checkpoint_s`` seconds."""
    assert name in EXECUTORS, name
    if name == "local":
        from .local import InProcess

        yield InProcess()
        return
    if name == "threads":
        from .threads import Threads

        yield Threads()
        return
    from . import dask

    client = dask.connect(address, jobs)
    try:
        if kernels:
            dask.check_kernels(client, kernels)
        yield dask.DaskExecutor(client, threads or 1, checkpoint_s)
    finally:
        dask.close(client)
