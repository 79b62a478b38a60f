"""The active stack: the models of a training run that are still training, shrunk together as they stop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Params
from .optim import Optimizer


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
