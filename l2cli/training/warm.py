"""A warm-started regularization path: each seed's models trained λ by λ, from the smallest λ to the largest,
each one starting from the previous λ's final parameters (how glmnet, scikit-learn's LogisticRegressionCV and
LassoNet make a path cheap).

A chunk of a warm sweep holds whole paths: every λ of some seeds. Step k trains, as one stack, the k-th
smallest λ of every path of the chunk, from the parameters step k − 1 ended with (its kept parameters: the
best epoch's for early stopping); the models of one path are sequential, the paths of a chunk are stacked,
and chunks train in parallel as always. Step 0 starts from each seed's initialisation, so its models are the
cold sweep's, bit for bit. A model that follows a diverged one (or one whose parameters are not finite)
starts cold again.

Each model is a local minimum of its own J(θ) = L(θ) + λ·Ω(θ), reached from its neighbour on the path: for a
network (not convex) that can be another minimum than a cold start finds.

A checkpoint of a path holds the steps done and the state of the step in progress (whatever that step's
training keeps: l2cli.training.train or l2cli.optim.lbfgs), so a resumed path continues with the same bits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..maths.network import Params
from ..maths.objective import Spec
from .plan import Point, chunks


def steps(lam: np.ndarray, seeds: np.ndarray) -> list[np.ndarray]:
    """The chunk positions trained at each step: one per path (seed, in order of first appearance), the k-th
    smallest λ of each (ties in chunk order)."""
    paths = [np.flatnonzero(seeds == s) for s in dict.fromkeys(seeds.tolist())]
    paths = [rows[np.argsort(lam[rows], kind="stable")] for rows in paths]
    if len({len(rows) for rows in paths}) != 1:
        raise ValueError("every path of a chunk must have the same λ grid")
    return [np.array([rows[k] for rows in paths]) for k in range(len(paths[0]))]


class PathRun:
    """What is known of a chunk's paths so far: the kept parameters, epochs (iterations), status, whether each
    model started warm, and the history, by chunk position."""

    def __init__(self, params: Params):
        M = params.n_models
        self.final, self.epochs = params.copy(), np.zeros(M, dtype=int)
        self.status, self.warm = ["completed"] * M, np.zeros(M, dtype=bool)
        self.history: dict[str, np.ndarray] = {}

    def start(self, init: Params, previous: np.ndarray | None, rows: np.ndarray) -> tuple[Params, np.ndarray]:
        """The start of the models at ``rows``: the kept parameters of the models at ``previous`` (the same
        paths' last step), or the initialisation where there is none, or where that model diverged or its
        parameters are not finite."""
        if previous is None:
            return init.take(rows), np.zeros(len(rows), dtype=bool)
        start = self.final.take(previous)
        finite = np.all([np.isfinite(a.reshape(len(a), -1)).all(axis=1) for a in start.arrays()], axis=0)
        warm = finite & np.array([self.status[p] != "diverged" for p in previous])
        cold = init.take(rows)
        for dst, src in zip(start.arrays(), cold.arrays(), strict=True):
            dst[~warm] = src[~warm]
        return start, warm

    def add(self, rows: np.ndarray, warm: np.ndarray, result) -> None:
        """Keep a step's result (l2cli.training.train.TrainResult) for the models at ``rows``."""
        for dst, src in zip(self.final.arrays(), result.params.arrays(), strict=True):
            dst[rows] = src
        self.epochs[rows], self.warm[rows] = result.epochs, warm
        for r, status in zip(rows, result.status, strict=True):
            self.status[r] = status
        if result.history:
            hist = {**result.history, "model": rows[result.history["model"]]}
            self.history = {k: np.concatenate([self.history[k], v]) if self.history else v for k, v in hist.items()}

    def state_dict(self) -> dict:
        return {"final": self.final.state_dict(), "epochs": self.epochs, "status": list(self.status),
                "warm": self.warm.astype(np.int8), "history": dict(self.history)}

    def load_state_dict(self, state: dict) -> None:
        self.final, self.epochs = Params.from_state_dict(state["final"]), np.array(state["epochs"])
        self.status, self.warm = list(state["status"]), np.array(state["warm"]).astype(bool)
        self.history = {k: np.array(v) for k, v in state["history"].items()}

    def snapshot(self, step: int) -> dict:
        """The state once ``step`` steps are done (what a checkpoint keeps between steps)."""
        return {"step": step, **self.state_dict(), "inner": None}

    def columns(self) -> dict[str, np.ndarray]:
        """The history sorted by model, then epoch, as a cold chunk's."""
        if not self.history:
            return {}
        order = np.lexsort((self.history["epoch"], self.history["model"]))
        return {k: v[order] for k, v in self.history.items()}


class Within:
    """A step in progress as a checkpoint sees it: the path's state with the step's own inside."""

    def __init__(self, run: PathRun, step: int, training):
        self.run, self.step, self.training = run, step, training

    def snapshot(self, at: int) -> dict:
        return {"step": self.step, **self.run.state_dict(), "inner": self.training.snapshot(at)}


class StepCheckpoint:
    """The chunk's checkpoint (a Checkpoint or a cluster's Segment) as one step's training sees it: it reads the
    step's saved state, and writes the whole path's."""

    def __init__(self, outer, run: PathRun, step: int, saved: dict | None):
        self.outer, self.run, self.step, self.saved = outer, run, step, saved

    def read(self) -> dict | None:
        return self.saved

    def maybe_write(self, training, at: int) -> None:
        self.outer.maybe_write(Within(self.run, self.step, training), at)


def train_path(params: Params, lam: np.ndarray, seeds, data, spec: Spec, schedule, train: Callable,
               on_epoch: Callable[[int], None] | None = None, checkpoint=None):
    """Train the chunk's paths (``params``: every model's initialisation, in chunk order) step by step with
    ``train`` (l2cli.training.train.train); a TrainResult in chunk order, with ``warm`` set."""
    from .train import TrainResult

    lam, seeds = np.asarray(lam), np.array([int(s) for s in seeds])
    order = steps(lam, seeds)
    run = PathRun(params)
    saved = None if checkpoint is None else checkpoint.read()
    first = 0 if saved is None else int(saved["step"])
    if saved is not None:
        run.load_state_dict(saved)
    for k in range(first, len(order)):
        rows = order[k]
        start, warm = run.start(params, order[k - 1] if k else None, rows)
        resumed = saved["inner"] if saved is not None and k == first else None
        inner = None if checkpoint is None else StepCheckpoint(checkpoint, run, k, resumed)
        run.add(rows, warm, train(start, lam[rows], seeds[rows], data, spec, schedule, on_epoch, inner))
        if checkpoint is not None and k + 1 < len(order):
            checkpoint.maybe_write(run, k + 1)
    return TrainResult(run.final, run.epochs, list(run.status), run.columns(), run.warm)


def paths(pts: list[Point]) -> list[list[Point]]:
    """The points of each seed, seeds in their order: the paths of a warm sweep (l2cli.training.warm)."""
    by_seed: dict[int, list[Point]] = {}
    for p in pts:
        by_seed.setdefault(p.seed, []).append(p)
    return list(by_seed.values())


def path_chunks(pts: list[Point], size: int) -> list[list[Point]]:
    """Chunks of whole paths: as many seeds' points as ``size`` holds (at least one seed's) in each."""
    seeds = paths(pts)
    per = max(1, size // len(seeds[0]))
    return [[p for path in seeds[i:i + per] for p in path] for i in range(0, len(seeds), per)]


class Cold:
    """sweep.path = cold: every model from its seed's initialisation, in chunks of consecutive points."""

    name = "cold"

    def path_length(self, pts: list[Point]) -> int:
        return 1

    def chunks(self, pts: list[Point], size: int) -> list[list[Point]]:
        return chunks(pts, size)

    def train(self, params, lam, seeds, data, spec, schedule, train: Callable, on_epoch, checkpoint):
        return train(params, lam, seeds, data, spec, schedule, on_epoch, checkpoint)

    reorders = False  # its chunks hold the points in their order


class Warm(Cold):
    """sweep.path = warm: each seed's λ grid in order, each model from the previous λ's (this module)."""

    name = "warm"

    def path_length(self, pts: list[Point]) -> int:
        return len(paths(pts)[0])

    def chunks(self, pts: list[Point], size: int) -> list[list[Point]]:
        return path_chunks(pts, size)

    def train(self, params, lam, seeds, data, spec, schedule, train: Callable, on_epoch, checkpoint):
        return train_path(params, lam, seeds, data, spec, schedule, train, on_epoch, checkpoint)

    reorders = True  # chunks of whole paths: the engine puts the points back in order


#: how the models of one seed start (sweep.path): the engine and a chunk ask this, not the name
STARTS = {"cold": Cold(), "warm": Warm()}
