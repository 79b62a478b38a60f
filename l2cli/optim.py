"""Optimizers that update every stacked model in one array operation.

Each parameter array θ has a leading model axis; so does every piece of state.
With g = ∂J/∂θ (which already contains the 2λW term):

    gd, sgd:   θ ← θ - η g
    momentum:  v ← μ v - η g;  θ ← θ + v
    adam:      m ← β₁ m + (1-β₁) g;  v ← β₂ v + (1-β₂) g²;
               θ ← θ - η m̂ / (√v̂ + ε),  m̂ = m / (1-β₁ᵗ),  v̂ = v / (1-β₂ᵗ)

``gd`` and ``sgd`` share the update; they differ in the batch (full data or a
mini-batch), which the training loop chooses.
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("gd", "sgd", "momentum", "adam")


class Optimizer:
    """Plain gradient descent: θ ← θ - η g."""

    def __init__(self, lr: float):
        self.lr = lr
        self.state: list[list[np.ndarray]] = []

    def step(self, thetas: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for theta, g in zip(thetas, grads):
            g *= self.lr
            theta -= g

    def keep(self, models: np.ndarray) -> None:
        """Drop the state of every model not listed in ``models``."""
        self.state = [[s[models] for s in group] for group in self.state]


class Momentum(Optimizer):
    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = momentum

    def step(self, thetas, grads):
        if not self.state:
            self.state = [[np.zeros_like(t) for t in thetas]]
        for theta, g, v in zip(thetas, grads, self.state[0]):
            v *= self.momentum
            g *= self.lr
            v -= g
            theta += v


class Adam(Optimizer):
    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def step(self, thetas, grads):
        if not self.state:
            self.state = [[np.zeros_like(t) for t in thetas], [np.zeros_like(t) for t in thetas]]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for theta, g, m, v in zip(thetas, grads, *self.state):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            g *= g
            g *= 1 - b2
            v += g
            theta -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def make_optimizer(name: str, lr: float, momentum: float = 0.9, beta1: float = 0.9,
                   beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    if name in ("gd", "sgd"):
        return Optimizer(lr)
    if name == "momentum":
        return Momentum(lr, momentum)
    if name == "adam":
        return Adam(lr, beta1, beta2, eps)
    raise ValueError(f"unknown optimizer {name!r}")
