"""Optimizers that update every stacked model in one array operation.

Each parameter array θ has a leading model axis; so does every piece of state
and the penalty strength λ. The optimizer receives the data gradient
∂L_data/∂θ, multiplied by its ``grad_scale``, and adds the penalty's 2λθ
itself, so g = ∂J/∂θ below:

    gd, sgd:   θ ← θ - η g  =  (1 - 2ηλ) θ - η ∂L_data/∂θ   (L2 is weight decay here)
    momentum:  v ← μ v - η g;  θ ← θ + v
    adam:      m ← β₁ m + (1-β₁) g;  v ← β₂ v + (1-β₂) g²;
               θ ← θ - η m̂ / (√v̂ + ε),  m̂ = m / (1-β₁ᵗ),  v̂ = v / (1-β₂ᵗ)

``gd`` and ``sgd`` share the update; they differ in the batch (full data or a
mini-batch), which the training loop chooses. Their ``grad_scale`` is η: the
backward pass then yields η ∂L_data/∂θ directly (one multiplication of ∂L/∂Z_L
instead of one per parameter array). Biases are penalized only when
``penalize_bias`` is set.
"""

from __future__ import annotations

import numpy as np

from . import choices
from .network import Params
from .objective import add_penalty_grad


class Optimizer:
    """Plain gradient descent on J: θ ← (1 - 2ηλ) θ - η ∂L_data/∂θ."""

    def __init__(self, lr: float, lam: np.ndarray, penalize_bias: bool = False):
        self.lr = lr
        self.lam = np.asarray(lam)
        self.penalize_bias = penalize_bias
        self.state: list[list[np.ndarray]] = []
        self._shrink: tuple[np.ndarray, np.ndarray | None] | None = None  # (1 - 2ηλ) for W and b

    @property
    def grad_scale(self) -> float:
        """The factor c of the data gradients that step() receives: c ∂L_data/∂θ."""
        return self.lr

    def objective_grads(self, params: Params, dW: list[np.ndarray],
                        db: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(θ, g = ∂J/∂θ) as flat lists, weights first; g overwrites the data gradients."""
        add_penalty_grad(params, dW, db, self.lam, self.penalize_bias)
        return params.arrays(), dW + db

    def step(self, params: Params, dW: list[np.ndarray], db: list[np.ndarray]) -> None:
        """Update every θ in place from η ∂L_data/∂θ (dW, db)."""
        if self._shrink is None:
            shrink = (1 - 2 * self.lr * self.lam).astype(params.W[0].dtype, copy=False)
            self._shrink = (shrink[:, None, None], shrink[:, None] if self.penalize_bias else None)
        shrink_W, shrink_b = self._shrink
        for W, g in zip(params.W, dW, strict=True):
            W *= shrink_W
            W -= g
        for b, g in zip(params.b, db, strict=True):
            if shrink_b is not None:
                b *= shrink_b
            b -= g

    def keep(self, models: np.ndarray) -> None:
        """Drop λ and the state of every model not listed in ``models``."""
        self.lam = self.lam[models]
        self._shrink = None
        self.state = [[s[models] for s in group] for group in self.state]


class Momentum(Optimizer):
    grad_scale = 1.0

    def __init__(self, lr, lam, penalize_bias=False, momentum: float = 0.9):
        super().__init__(lr, lam, penalize_bias)
        self.momentum = momentum

    def step(self, params, dW, db):
        thetas, grads = self.objective_grads(params, dW, db)
        if not self.state:
            self.state = [[np.zeros_like(t) for t in thetas]]
        for theta, g, v in zip(thetas, grads, self.state[0], strict=True):
            v *= self.momentum
            g *= self.lr
            v -= g
            theta += v


class Adam(Optimizer):
    grad_scale = 1.0

    def __init__(self, lr, lam, penalize_bias=False, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr, lam, penalize_bias)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def step(self, params, dW, db):
        thetas, grads = self.objective_grads(params, dW, db)
        if not self.state:
            self.state = [[np.zeros_like(t) for t in thetas], [np.zeros_like(t) for t in thetas]]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for theta, g, m, v in zip(thetas, grads, *self.state, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            g *= g
            g *= 1 - b2
            v += g
            theta -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def make_optimizer(name: str, lr: float, lam: np.ndarray, penalize_bias: bool = False, momentum: float = 0.9,
                   beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """The step rule called ``name`` (one of choices.OPTIMIZERS but lbfgs, which l2cli.lbfgs runs) for models with
    penalty strengths lam (M,)."""
    makers = {
        "gd": lambda: Optimizer(lr, lam, penalize_bias),
        "sgd": lambda: Optimizer(lr, lam, penalize_bias),
        "momentum": lambda: Momentum(lr, lam, penalize_bias, momentum),
        "adam": lambda: Adam(lr, lam, penalize_bias, beta1, beta2, eps),
    }
    assert (*makers, "lbfgs") == choices.OPTIMIZERS
    return makers[name]()
