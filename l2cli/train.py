"""Train a stack of M models together, one λ and one shuffling stream each.

Every step estimates ∂J/∂θ on a mini-batch per model and hands it to the
optimizer. Models stop on their own: at ``epochs``; when the relative change of
J over one epoch falls below ``tol`` (if tol > 0); when the validation loss has
not improved for ``patience`` epochs (early stopping); or when J stops being
finite (``diverged``, numbers kept as NaN/inf, never hidden). A stopped model
leaves the stack, so the others keep running at full speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .network import Params, Workspace, eval_buffers
from .objective import Spec, data_grad, data_loss, penalty
from .optim import make_optimizer

#: Columns of the per-epoch history, in order.
HISTORY_COLUMNS = ("train_loss", "test_loss", "val_loss", "penalty", "weight_norm", "objective")


@dataclass(frozen=True)
class Schedule:
    """How to train: optimizer, step size, batches and stopping rules."""

    optimizer: str = "sgd"
    lr: float = 0.1
    epochs: int = 200
    batch_size: int = 32  # 0 means the full training set; ignored by gd
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    tol: float = 0.0  # relative change of J per epoch; 0 disables
    early_stopping: bool = False
    patience: int = 10
    history_every: int = 1  # record every k-th epoch; 0 records only the first and last


@dataclass
class Arrays:
    """Training, validation and test arrays. X is (n, d); Y is (n, K)."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray | None
    Y_test: np.ndarray | None
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None


@dataclass
class TrainResult:
    """Final parameters and history of M models, in the order they were given."""

    params: Params
    epochs: np.ndarray  # (M,) epochs whose parameters are kept
    status: list[str]  # per model: completed, converged, early_stopped, diverged
    #: "model", "epoch" and HISTORY_COLUMNS, one entry per recorded (model, epoch)
    history: dict[str, np.ndarray] = field(default_factory=dict)


def train(*args, **kwargs) -> TrainResult:
    """Train the M stacked models in ``params`` (modified in place); see :func:`train_stack`.

    numpy's overflow warnings are not printed: a model whose J stops being
    finite is marked ``diverged`` instead, and its numbers stay NaN/inf.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return train_stack(*args, **kwargs)


def train_stack(
    params: Params,
    lam: np.ndarray,
    seeds: list[int] | np.ndarray,
    data: Arrays,
    spec: Spec,
    schedule: Schedule,
    on_epoch: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train the M stacked models in ``params`` (modified in place) and return the result.

    lam: (M,) penalty strengths. seeds: (M,) seeds of the mini-batch shuffling
    streams (a model's batch order depends on its seed only).
    """
    M = params.n_models
    dtype = params.W[0].dtype
    lam = np.asarray(lam, dtype=dtype)
    n = data.X_train.shape[0]
    B = n if schedule.optimizer == "gd" or schedule.batch_size <= 0 else min(schedule.batch_size, n)
    seeds = [int(s) for s in seeds]
    shufflers = {s: shuffle_rng(s) for s in seeds}  # one stream per seed: equal seeds, equal batches
    optimizer = make_optimizer(schedule.optimizer, schedule.lr, lam, spec.penalize_bias, schedule.momentum,
                               schedule.beta1, schedule.beta2, schedule.eps)
    use_val = schedule.early_stopping and data.X_val is not None

    active = np.arange(M)  # original indices of the models still training
    final = params.copy()
    epochs = np.zeros(M, dtype=int)
    status = ["completed"] * M
    previous_J = np.full(M, np.nan)
    best_val = np.full(M, np.inf)
    best_epoch = np.zeros(M, dtype=int)
    best = params.copy() if use_val else None
    records: list[tuple[int, np.ndarray, dict[str, np.ndarray]]] = []
    workspaces: dict[tuple[int, int], Workspace] = {}  # by (models, batch rows)

    measure_buffers: dict[int, list[np.ndarray]] = {}  # by number of models, reused by every measurement

    def measure() -> dict[str, np.ndarray]:
        p = params
        weights_sq = penalty(p, False)
        omega = penalty(p, True) if spec.penalize_bias else weights_sq
        buffers = measure_buffers.get(len(active))
        if buffers is None:
            rows = max(len(X) for X in (data.X_train, data.X_test, data.X_val) if X is not None)
            buffers = measure_buffers[len(active)] = eval_buffers(p, rows)
        stats = {
            "train_loss": data_loss(p, data.X_train, data.Y_train, spec, buffers),
            "test_loss": _loss_or_nan(p, data.X_test, data.Y_test, spec, buffers),
            "val_loss": _loss_or_nan(p, data.X_val, data.Y_val, spec, buffers),
            "penalty": omega,
            "weight_norm": np.sqrt(weights_sq),
        }
        stats["objective"] = stats["train_loss"] + lam * omega
        return stats

    def record(epoch: int, stats: dict[str, np.ndarray]) -> None:
        records.append((epoch, active.copy(), stats))

    stats = measure()
    record(0, stats)
    previous_J[:] = stats["objective"]
    for epoch in range(1, schedule.epochs + 1):
        if B == n:
            batches = [(data.X_train, data.Y_train)]
        else:  # each model's rows in its seed's shuffled order; batches are views of one gather
            perms = {s: rng.permutation(n) for s, rng in shufflers.items()}
            active_seeds = {seeds[m] for m in active}
            if len(active_seeds) == 1:  # one order shared by all: (n, d) batches, broadcast over models
                order = perms[active_seeds.pop()]
            else:
                order = np.stack([perms[seeds[m]] for m in active])
            X_perm, Y_perm = data.X_train[order], data.Y_train[order]
            batches = [(X_perm[..., s:s + B, :], Y_perm[..., s:s + B, :]) for s in range(0, n, B)]
        for Xb, Yb in batches:
            rows = Xb.shape[-2]
            ws = workspaces.get((len(active), rows))
            if ws is None:
                ws = workspaces[len(active), rows] = Workspace.create(params.layer_sizes, len(active), rows, dtype)
            dW, db = data_grad(params, Xb, Yb, spec, n, ws, optimizer.grad_scale)
            optimizer.step(params, dW, db)
        epochs[active] = epoch
        if on_epoch is not None:
            on_epoch(len(active))

        last = epoch == schedule.epochs
        every = schedule.history_every
        want_stats = last or schedule.tol > 0 or use_val or (every > 0 and epoch % every == 0)
        stats = measure() if want_stats else None
        # diverged: Ω (every epoch) or J (when measured) is no longer finite
        stopping = ~np.isfinite(penalty(params, spec.penalize_bias) if stats is None else stats["objective"])
        for i in np.flatnonzero(stopping):
            status[active[i]] = "diverged"
        if stats is not None:
            J = stats["objective"]
            if last or (every > 0 and epoch % every == 0) or stopping.any():
                record(epoch, stats)
            if schedule.tol > 0:
                prev = previous_J[active]
                change = np.abs(prev - J) / np.maximum(np.abs(prev), np.finfo(dtype).tiny)
                converged = (change < schedule.tol) & ~stopping
                for i in np.flatnonzero(converged):
                    status[active[i]] = "converged"
                stopping |= converged
                previous_J[active] = J
            if use_val:
                v = stats["val_loss"]
                improved = v < best_val[active]
                for i in np.flatnonzero(improved):
                    m = active[i]
                    best_val[m], best_epoch[m] = v[i], epoch
                    for dst, src in zip(best.arrays(), params.arrays()):
                        dst[m] = src[i]
                patience_over = (epoch - best_epoch[active] >= schedule.patience) & ~stopping
                for i in np.flatnonzero(patience_over):
                    status[active[i]] = "early_stopped"
                stopping |= patience_over
        if last:
            stopping[:] = True
        if stopping.any():
            for dst, src in zip(final.arrays(), params.arrays()):
                dst[active[stopping]] = src[stopping]
            keep = np.flatnonzero(~stopping)
            active = active[keep]
            if len(active) == 0:
                break
            params = params.take(keep)
            lam = lam[keep]
            optimizer.keep(keep)

    if use_val:
        for m in range(M):
            if status[m] != "diverged" and np.isfinite(best_val[m]):
                for dst, src in zip(final.arrays(), best.arrays()):
                    dst[m] = src[m]
                epochs[m] = best_epoch[m]
    return TrainResult(final, epochs, status, _history(records))


def _loss_or_nan(params, X, Y, spec, buffers) -> np.ndarray:
    """L_data on (X, Y) per model, or NaN when that part of the data does not exist."""
    return np.full(params.n_models, np.nan) if X is None else data_loss(params, X, Y, spec, buffers)


def shuffle_rng(seed: int) -> np.random.Generator:
    """The mini-batch shuffling stream of a model; independent of its initialisation stream."""
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[1])


def init_rng(seed: int) -> np.random.Generator:
    """The initialisation stream of a model."""
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[0])


def _history(records) -> dict[str, np.ndarray]:
    """Flatten per-epoch records into columns with one entry per (model, epoch)."""
    if not records:
        return {}
    model = np.concatenate([models for _, models, _ in records])
    epoch = np.concatenate([np.full(len(models), e) for e, models, _ in records])
    cols = {"model": model, "epoch": epoch}
    for name in HISTORY_COLUMNS:
        cols[name] = np.concatenate([stats[name] for _, _, stats in records]).astype(np.float64)
    order = np.lexsort((epoch, model))
    return {k: v[order] for k, v in cols.items()}
