"""The unit of work of every executor: a chunk of points, trained as one stack, and what it gives back.

:func:`train_chunk` gives the same numbers in whichever process runs it (this one, a forked worker, a Dask
worker), which is what lets the executors differ only in where it runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..maths.network import init_params
from ..training.checkpoint import Checkpoint
from ..training.numeric_warnings import counted
from ..training.plan import Point
from ..training.summary import summarize
from ..training.train import TrainResult, init_rng, train
from ..training.warm import STARTS

Progress = Callable[[int], None]
Done = Callable[[int, "ChunkResult"], None]


@dataclass
class ChunkResult:
    """What training one chunk of points gives: the trained stack, its summary rows, and the numeric
    warnings counted while it trained (l2cli.training.numeric_warnings), in whichever process that was."""

    trained: TrainResult
    summary: pd.DataFrame
    warnings: Counter = field(default_factory=Counter)


@dataclass
class Job:
    """A chunk to train, and where its training state is kept while it trains (None: nowhere)."""

    points: list[Point]
    checkpoint: Checkpoint | None = None


def train_chunk(exp, points: list[Point], on_epoch: Progress | None = None,
                checkpoint: Checkpoint | None = None) -> ChunkResult:
    """Train the points together as one stack from their seeded initial weights, and summarize them."""
    counts: Counter = Counter()
    with counted(counts):
        params = init_params(exp.layer_sizes, [init_rng(p.seed) for p in points], exp.init, exp.dtype)
        lam, seeds = np.array([p.lam for p in points]), [p.seed for p in points]
        trained = STARTS[exp.path].train(params, lam, seeds, exp.arrays, exp.spec, exp.schedule, train, on_epoch,
                                         checkpoint)
        summary = summarize(exp, points, trained)
    return ChunkResult(trained, summary, counts)
