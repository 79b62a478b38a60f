"""When a model stops training, and why: its status.

    diverged       J is no longer finite (on epochs without a measurement: Ω), or J has grown past
                   GROWTH_BOUND times its value at the initial weights (checked whenever J is
                   measured: every history_every-th epoch, the last, and every epoch with tol or
                   early stopping)
    converged      |ΔJ| / |J| over one epoch < tol            (train.tol > 0)
    early_stopped  no better validation loss for `patience` epochs (train.early_stopping);
                   the model then keeps the parameters of its best validation epoch
    completed      it ran every epoch

Each rule looks at one model at a time, so a model's status never depends on
the other models of its stack.
"""

from __future__ import annotations

import numpy as np

from ..maths.network import Params
from ..maths.objective import penalty
from .stack import ActiveStack

#: J above this many times its starting value J₀ means the model diverged. J₀ is the loss of the initial
#: weights plus λΩ₀ (a cross-entropy near ln K, a standardized squared error near 1), so 1000·J₀ means
#: logits hundreds of units the wrong way; a learning rate far too large passes it within a few epochs
#: (moons, sgd, --lr 1e6: J = 3.5e5 and ‖W‖ = 3e107 after 30 epochs, with every number still finite).
GROWTH_BOUND = 1e3


class Stopping:
    """The stopping rules for the M models of one training run; ``status[m]`` says why model m stopped."""

    def __init__(self, M: int, tol: float, patience: int | None, penalize_bias: bool, dtype):
        self.status = np.array(["completed"] * M, dtype=object)
        self.tol, self.patience, self.penalize_bias = tol, patience, penalize_bias
        self.tiny = np.finfo(dtype).tiny
        self.previous_J = np.full(M, np.nan)
        self.start_J = np.full(M, np.inf)
        self.best_val = np.full(M, np.inf)
        self.best_epoch = np.zeros(M, dtype=int)
        self.best: Params | None = None  # the parameters of each model's best validation epoch

    @property
    def needs_measurements(self) -> bool:
        """Whether the rules read J or the validation loss after every epoch."""
        return self.tol > 0 or self.patience is not None

    def start(self, stack: ActiveStack, stats: dict[str, np.ndarray]) -> None:
        self.previous_J[stack.index] = stats["objective"]
        self.start_J[stack.index] = np.abs(stats["objective"])
        if self.patience is not None:
            self.best = stack.params.copy()

    def check(self, epoch: int, stack: ActiveStack, stats: dict[str, np.ndarray] | None) -> np.ndarray:
        """Which active models stop after this epoch, (M_active,) bool; their status is set here."""
        J = penalty(stack.params, self.penalize_bias) if stats is None else stats["objective"]
        stop = ~np.isfinite(J)
        if stats is not None:
            start = self.start_J[stack.index]  # J₀ = 0 (nothing to grow from): only non-finite J counts
            stop |= (J / np.where(start > 0, start, np.inf)) > GROWTH_BOUND
        if stop.any():  # (most epochs: nothing stops, and the loop's per-epoch cost is what W1 pays)
            self.status[stack.index[stop]] = "diverged"
        if stats is not None and self.tol > 0:
            stop |= self._converged(stack.index, J, stop)
        if stats is not None and self.patience is not None:
            stop |= self._out_of_patience(epoch, stack, stats["val_loss"], stop)
        return stop

    def _converged(self, index: np.ndarray, J: np.ndarray, stopped: np.ndarray) -> np.ndarray:
        previous = self.previous_J[index]
        change = np.abs(previous - J) / np.maximum(np.abs(previous), self.tiny)
        converged = (change < self.tol) & ~stopped
        self.status[index[converged]] = "converged"
        self.previous_J[index] = J
        return converged

    def _out_of_patience(self, epoch: int, stack: ActiveStack, val: np.ndarray, stopped: np.ndarray) -> np.ndarray:
        index = stack.index
        improved = np.flatnonzero(val < self.best_val[index])
        self.best_val[index[improved]] = val[improved]
        self.best_epoch[index[improved]] = epoch
        for best, current in zip(self.best.arrays(), stack.params.arrays(), strict=True):
            best[index[improved]] = current[improved]
        out = (epoch - self.best_epoch[index] >= self.patience) & ~stopped
        self.status[index[out]] = "early_stopped"
        return out

    def state_dict(self) -> dict:
        """Each model's status and what the rules remember of it (and the best parameters, with patience)."""
        return {"status": self.status.tolist(), "previous_J": self.previous_J, "start_J": self.start_J,
                "best_val": self.best_val, "best_epoch": self.best_epoch,
                "best": None if self.best is None else self.best.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.status = np.array(state["status"], dtype=object)
        for name in ("previous_J", "start_J", "best_val", "best_epoch"):
            setattr(self, name, np.array(state[name]))
        self.best = None if state["best"] is None else Params.from_state_dict(state["best"])

    def restore_best(self, final: Params, epochs: np.ndarray) -> None:
        """With early stopping, every model that did not diverge keeps its best validation epoch."""
        if self.best is None:
            return
        keep = np.flatnonzero((self.status != "diverged") & np.isfinite(self.best_val))
        for dst, src in zip(final.arrays(), self.best.arrays(), strict=True):
            dst[keep] = src[keep]
        epochs[keep] = self.best_epoch[keep]
