"""Train a stack of M models together, one λ and one shuffling stream each.

Every step estimates ∂J/∂θ on a mini-batch per model and hands it to the
optimizer. After each epoch the stopping rules (:mod:`l2cli.training.stopping`) decide
which models stop; a stopped model leaves the active stack
(:mod:`l2cli.training.stack`), so the others keep running at full speed. Measurements
come from :func:`l2cli.maths.evaluate.evaluate`, the same function as the summary's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..maths.evaluate import Part, evaluate, scored_by_targets
from ..maths.network import Params, Workspace, eval_buffers
from ..maths.objective import Spec, data_grad
from ..optim import METHODS, Method, budget, make_optimizer, minimizer
from .history import History
from .stack import ActiveStack
from .stopping import Stopping


@dataclass(frozen=True)
class Schedule:
    """How to train: optimizer, step size, batches and stopping rules. Each field is the [train] key of the
    same name (l2cli.config declares them, with their defaults and meaning; l2cli.sweeps.experiment builds a
    Schedule from them): none has a default here."""

    optimizer: str
    decay: str
    lr: float
    epochs: int
    batch_size: int
    hyper: tuple[tuple[str, Any], ...]  # the rule's hyper-parameters (name, value), as l2cli.optim declares
    tol: float
    early_stopping: bool
    patience: int
    history_every: int
    history_metrics: bool
    max_iter: int
    gtol: float
    ftol: float
    max_fun: int

    @property
    def method(self) -> Method:
        """What the optimizer declares of itself (l2cli.optim.Method)."""
        return METHODS[self.optimizer]

    @property
    def full_batch(self) -> bool:
        return self.method.full_batch

    @property
    def units(self) -> int:
        """A model's units of progress: its epochs, or for lbfgs its iteration limit."""
        return budget(self)

    def batch_rows(self, n: int) -> int:
        """Rows per mini-batch on n training rows: all of them for gd, lbfgs or batch_size 0, else at most n."""
        return n if self.full_batch or self.batch_size <= 0 else min(self.batch_size, n)

    def records(self, epoch: int) -> bool:
        """Whether the history records every model at this epoch (0, every k-th and the last)."""
        every = self.history_every
        return epoch in (0, self.epochs) or (every > 0 and epoch % every == 0)


@dataclass
class Arrays:
    """Training, validation and test arrays. X is (n, d); Y is (n, K); y the raw labels or targets (n,)."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray | None
    Y_test: np.ndarray | None
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None

    def parts(self) -> list[Part]:
        """The parts that exist, training first."""
        named = (("train", self.X_train, self.Y_train), ("test", self.X_test, self.Y_test),
                 ("val", self.X_val, self.Y_val))
        return [Part(name, X, Y) for name, X, Y in named if X is not None]


@dataclass
class TrainResult:
    """Final parameters and history of M models, in the order they were given."""

    params: Params
    epochs: np.ndarray  # (M,) epochs whose parameters are kept
    status: list[str]  # per model: completed, converged, early_stopped, diverged (lbfgs: max_iter, stalled)
    #: "model", "epoch" and HISTORY_METRICS, one entry per recorded (model, epoch)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    warm: np.ndarray | None = None  # (M,) on a warm path (l2cli.training.warm): whether each model started warm


def shuffle_rng(seed: int) -> np.random.Generator:
    """The mini-batch shuffling stream of a model; independent of its initialisation stream."""
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[1])


def init_rng(seed: int) -> np.random.Generator:
    """The initialisation stream of a model."""
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[0])


#: An epoch's shuffled rows are gathered at once when that copy takes at most this many bytes (one gather costs
#: less than a gather per batch: W1's 16 λ 6 % faster); a larger one is never made, each batch is gathered alone.
EPOCH_GATHER_BYTES = 2**24


class Batches:
    """Each epoch's mini-batches of the training rows, one shuffling stream per seed.

    Every stream draws one permutation per epoch, whichever models are still
    training, so a model's batch order depends on its seed only. A batch is
    gathered by index into a buffer reused by every step: (rows, d) when the
    active models share one seed, else (M_active, rows, d); the training matrix
    itself is not copied or permuted (one copy of it per process), unless the
    epoch's permuted copy is small (EPOCH_GATHER_BYTES). Either way the batches
    hold the same numbers.
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, seeds, rows: int):
        self.X, self.Y, self.rows = X, Y, rows
        self.streams = {int(s): shuffle_rng(s) for s in seeds}
        self.buffers: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}  # by the index array's shape

    def state_dict(self) -> dict:
        """Each seed's shuffling stream, where it is."""
        return {"streams": {str(s): rng.bit_generator.state for s, rng in self.streams.items()}}

    def load_state_dict(self, state: dict) -> None:
        for seed, stream in state["streams"].items():
            self.streams[int(seed)].bit_generator.state = stream

    def epoch(self, active_seeds: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's batches, in order; each one is valid until the next is drawn."""
        n = len(self.X)
        if self.rows == n:
            yield self.X, self.Y
            return
        perms = {s: rng.permutation(n) for s, rng in self.streams.items()}
        distinct = set(active_seeds.tolist())
        order = perms[distinct.pop()] if len(distinct) == 1 else np.stack([perms[s] for s in active_seeds])
        if order.size * (self.X.shape[1] + self.Y.shape[1]) * self.X.itemsize <= EPOCH_GATHER_BYTES:
            X, Y = self.X[order], self.Y[order]  # small data: one gather per epoch, its batches views of it
            for start in range(0, n, self.rows):
                yield X[..., start:start + self.rows, :], Y[..., start:start + self.rows, :]
            return
        for start in range(0, n, self.rows):
            yield self.gather(order[..., start:start + self.rows])

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of X and Y at ``rows`` ((r,) or (M, r)), copied into this shape's reused buffers."""
        buffers = self.buffers.get(rows.shape)
        if buffers is None:  # a new batch size or stack size: the stack's old sizes are not drawn again
            self.buffers = {shape: b for shape, b in self.buffers.items() if shape[:-1] == rows.shape[:-1]}
            buffers = self.buffers[rows.shape] = (np.empty((*rows.shape, self.X.shape[1]), self.X.dtype),
                                                  np.empty((*rows.shape, self.Y.shape[1]), self.Y.dtype))
        Xb, Yb = buffers
        np.take(self.X, rows, axis=0, out=Xb)
        np.take(self.Y, rows, axis=0, out=Yb)
        return Xb, Yb


def train(params: Params, lam: np.ndarray, seeds, data: Arrays, spec: Spec, schedule: Schedule,
          on_epoch: Callable[[int], None] | None = None, checkpoint=None) -> TrainResult:
    """Train the M stacked models that start from ``params`` (left unchanged); return their result.

    lam: (M,) penalty strengths. seeds: (M,) seeds of the mini-batch shuffling
    streams. ``on_epoch`` is called after each epoch with the number of models
    that trained in it. ``checkpoint`` (l2cli.training.checkpoint.Checkpoint): continue
    from the state saved there, if any, and save the state there as training
    goes. numpy's overflow warnings are not printed: a model whose J stops being
    finite is marked ``diverged`` and its numbers stay NaN/inf. With the lbfgs
    optimizer each model is minimized in turn by l2cli.optim.lbfgs (``on_epoch`` then
    counts iterations, and a checkpoint keeps the models already minimized).
    """
    minimize = minimizer(schedule.optimizer)
    if minimize is not None:  # one model at a time, each to its minimum
        run = minimize(params, np.asarray(lam), data, spec, schedule, History(), on_epoch, checkpoint)
        return TrainResult(run.final, run.iterations, run.status, run.history.columns())
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return Training(params, lam, seeds, data, spec, schedule).run(on_epoch, checkpoint)


class Training:
    """One training run of a stack: the loop over epochs and what it keeps between them."""

    def __init__(self, params: Params, lam, seeds, data: Arrays, spec: Spec, schedule: Schedule):
        M, dtype = params.n_models, params.W[0].dtype
        lam = np.asarray(lam, dtype=dtype)
        optimizer = make_optimizer(schedule.optimizer, schedule.lr, lam, spec.penalize_bias, schedule.decay,
                                   **dict(schedule.hyper))
        seeds = np.array([int(s) for s in seeds])
        self.stack = ActiveStack(params.copy(), lam, seeds, np.arange(M), optimizer)
        self.data, self.spec, self.schedule = data, spec, schedule
        self.n = data.X_train.shape[0]
        self.batches = Batches(data.X_train, data.Y_train, seeds, schedule.batch_rows(self.n))
        watch_val = schedule.early_stopping and data.X_val is not None
        self.stopping = Stopping(M, schedule.tol, schedule.patience if watch_val else None, spec.penalize_bias, dtype)
        self.final, self.epochs, self.history = params.copy(), np.zeros(M, dtype=int), History()
        self.workspaces: dict[tuple[int, int], Workspace] = {}  # by (models, batch rows)
        self.buffers: dict[int, list[np.ndarray]] = {}  # evaluation buffers by number of models

    def run(self, on_epoch: Callable[[int], None] | None, checkpoint=None) -> TrainResult:
        saved = None if checkpoint is None else checkpoint.read()
        if saved is not None:
            self.load_state_dict(saved)
            first = saved["epoch"] + 1
        else:
            first = 1
            stats = self.measure()
            self.history.record(0, self.stack.index, stats)
            self.stopping.start(self.stack, stats)
        for epoch in range(first, self.schedule.epochs + 1):
            for Xb, Yb in self.batches.epoch(self.stack.seeds):
                self.step(Xb, Yb)
            self.epochs[self.stack.index] = epoch
            if on_epoch is not None:
                on_epoch(len(self.stack))
            if not self.end_epoch(epoch):
                break
            if checkpoint is not None:
                checkpoint.maybe_write(self, epoch)
        self.stopping.restore_best(self.final, self.epochs)
        return TrainResult(self.final, self.epochs, list(self.stopping.status), self.history.columns())

    def state_dict(self) -> dict:
        """The whole state of the run, each part from its owner: what continues it bit for bit."""
        return {"stack": self.stack.state_dict(), "stopping": self.stopping.state_dict(),
                "batches": self.batches.state_dict(), "history": self.history.state_dict(),
                "final": self.final.state_dict(), "epochs": self.epochs}

    def load_state_dict(self, state: dict) -> None:
        self.stack.load_state_dict(state["stack"])
        self.stopping.load_state_dict(state["stopping"])
        self.batches.load_state_dict(state["batches"])
        self.history.load_state_dict(state["history"])
        self.final, self.epochs = Params.from_state_dict(state["final"]), np.array(state["epochs"])

    def snapshot(self, epoch: int) -> dict:
        """The state after ``epoch`` (what a checkpoint keeps)."""
        return {"epoch": epoch, **self.state_dict()}

    def step(self, Xb: np.ndarray, Yb: np.ndarray) -> None:
        """One update of every active model from its mini-batch (Xb, Yb)."""
        stack, key = self.stack, (len(self.stack), Xb.shape[-2])
        ws = self.workspaces.get(key)
        if ws is None:
            ws = self.workspaces[key] = Workspace.create(stack.params.layer_sizes, *key, stack.params.W[0].dtype)
        dW, db = data_grad(stack.params, Xb, Yb, self.spec, self.n, ws, stack.optimizer.grad_scale)
        stack.optimizer.step(stack.params, dW, db)

    def end_epoch(self, epoch: int) -> bool:
        """Measure, record and apply the stopping rules; False when no model is left."""
        regular = self.schedule.records(epoch)
        stats = self.measure() if regular or self.stopping.needs_measurements else None
        stop = self.stopping.check(epoch, self.stack, stats)
        if epoch == self.schedule.epochs:
            stop[:] = True
        if stop.any() and stats is None:
            stats = self.measure()
        if stats is not None and (regular or stop.any()):  # every model, or the ones stopping now
            self.history.record(epoch, self.stack.index, stats, slice(None) if regular else stop)
        if stop.any():
            self.retire(stop)
        return len(self.stack) > 0

    def retire(self, stop: np.ndarray) -> None:
        """Keep the final parameters of the stopping models and drop them from the stack."""
        for dst, src in zip(self.final.arrays(), self.stack.params.arrays(), strict=True):
            dst[self.stack.index[stop]] = src[stop]
        self.stack.keep(np.flatnonzero(~stop))

    def measure(self) -> dict[str, np.ndarray]:
        """Every metric of the active models on every part of the data (see l2cli.maths.evaluate)."""
        params, parts = self.stack.params, self.data.parts()
        buffers = self.buffers.get(len(self.stack))
        if buffers is None:
            buffers = self.buffers[len(self.stack)] = eval_buffers(params, max(len(p.X) for p in parts))
        scorer = None
        if self.schedule.history_metrics:
            parts, scorer = scored_by_targets(parts, self.spec.loss)
        return evaluate(params, self.stack.lam, parts, self.spec, buffers, scorer)
