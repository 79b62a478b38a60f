"""The active stack: the models of a training run that are still training, shrunk together as they stop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..maths.network import Params
from ..optim.optimizer import Optimizer


@dataclass
class ActiveStack:
    """Row i of every array belongs to model ``index[i]`` of the run.

    params: stacked parameters, W_l (M_active, n_{l-1}, n_l); lam, seeds,
    index: (M_active,); optimizer: the update rule and its per-model state.
    """

    params: Params
    lam: np.ndarray
    seeds: np.ndarray
    index: np.ndarray
    optimizer: Optimizer

    def __len__(self) -> int:
        return len(self.index)

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the given rows, in the parameters, λ, seeds, indices and optimizer state alike."""
        self.params = self.params.take(rows)
        self.lam = self.lam[rows]
        self.seeds = self.seeds[rows]
        self.index = self.index[rows]
        self.optimizer.keep(rows)

    def state_dict(self) -> dict:
        return {"params": self.params.state_dict(), "lam": self.lam, "seeds": self.seeds, "index": self.index,
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.params = Params.from_state_dict(state["params"])
        self.lam, self.seeds, self.index = (np.array(state[k]) for k in ("lam", "seeds", "index"))
        self.optimizer.load_state_dict(state["optimizer"])
