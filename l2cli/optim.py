"""Optimizers that update every stacked model in one array operation.

Each parameter array θ has a leading model axis; so does every piece of state
and the penalty strength λ. The regularization enters in one place,
:meth:`Optimizer.step`, which no update rule can skip. ``decay`` chooses how:

    l2 (coupled):   g = ∂L_data/∂θ + 2λθ                       (the gradient of J), then the rule on g
    decoupled:      θ ← (1 - 2ηλ)·θ,  then the rule on g = ∂L_data/∂θ      (AdamW, SGDW)

The decoupled shrink acts on the parameters the step starts from, before the
rule's own update is added: the order of ``torch.optim.AdamW``, so that
``AdamW(lr=η, weight_decay=2λ)`` is its exact equivalent. The rules:

    gd, sgd:   θ ← θ - η g
    momentum:  v ← μ v - η g;  θ ← θ + v
    adam:      m ← β₁ m + (1-β₁) g;  v ← β₂ v + (1-β₂) g²;
               θ ← θ - η m̂ / (√v̂ + ε),  m̂ = m / (1-β₁ᵗ),  v̂ = v / (1-β₂ᵗ)

For plain gradient descent the two decays are one update,
θ ← (1 - 2ηλ) θ - η ∂L_data/∂θ, so gd and sgd always apply the penalty as that
shrink (``l2_is_shrink``): the bits are the same under both decays. They differ
in the batch (full data or a mini-batch), which the training loop chooses.
Their ``grad_scale`` is η: the backward pass then yields η ∂L_data/∂θ directly
(one multiplication of ∂L/∂Z_L instead of one per parameter array). Biases are
penalized, and decayed, only when ``penalize_bias`` is set.

Each optimizer owns its state: :meth:`Optimizer.state_dict` and
:meth:`Optimizer.load_state_dict` (PyTorch's convention) are all a checkpoint
reads and writes of it.
"""

from __future__ import annotations

import numpy as np

from . import choices
from .network import Params
from .objective import add_penalty_grad


class Optimizer:
    """The update rule of a stack of models, and the one place where λ enters a step (see the module docstring).

    A rule implements :meth:`update` on (θ, g) and keeps its state in ``self.state`` (lists of arrays with a
    leading model axis) and in the attributes named by ``counters``.
    """

    #: the factor c of the data gradients that step() receives: c ∂L_data/∂θ
    grad_scale: float = 1.0
    #: True when the coupled penalty is exactly the decoupled shrink (plain gradient descent)
    l2_is_shrink: bool = False
    #: integer attributes that are part of the state (Adam's step count)
    counters: tuple[str, ...] = ()

    def __init__(self, lr: float, lam: np.ndarray, penalize_bias: bool = False, decay: str = "l2"):
        if decay not in choices.DECAYS:
            raise ValueError(f"decay {decay!r} is not one of {', '.join(choices.DECAYS)}")
        self.lr = lr
        self.lam = np.asarray(lam)
        self.penalize_bias = penalize_bias
        self.decay = decay
        self.state: list[list[np.ndarray]] = []
        self._shrink: tuple[np.ndarray, np.ndarray | None] | None = None  # (1 - 2ηλ) for W and b

    @property
    def shrinks(self) -> bool:
        """Whether λ enters as the shrink θ ← (1 - 2ηλ)θ rather than as the gradient 2λθ."""
        return self.decay == "decoupled" or self.l2_is_shrink

    def step(self, params: Params, dW: list[np.ndarray], db: list[np.ndarray]) -> None:
        """Update every θ in place from c ∂L_data/∂θ (dW, db; c = grad_scale), which step may overwrite."""
        if self.shrinks:
            self.shrink(params)
        else:
            add_penalty_grad(params, dW, db, self.lam, self.penalize_bias)
        self.update(params.arrays(), dW + db)

    def shrink(self, params: Params) -> None:
        """θ ← (1 - 2ηλ)·θ for every penalized array: the weights, and the biases when they are penalized."""
        if self._shrink is None:
            shrink = (1 - 2 * self.lr * self.lam).astype(params.W[0].dtype, copy=False)
            self._shrink = (shrink[:, None, None], shrink[:, None] if self.penalize_bias else None)
        shrink_W, shrink_b = self._shrink
        for W in params.W:
            W *= shrink_W
        if shrink_b is not None:
            for b in params.b:
                b *= shrink_b

    def update(self, thetas: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """The rule's own update of θ (flat lists, weights first) from g, in place."""
        raise NotImplementedError

    def keep(self, models: np.ndarray) -> None:
        """Drop λ and the state of every model not listed in ``models``."""
        self.lam = self.lam[models]
        self._shrink = None
        self.state = [[s[models] for s in group] for group in self.state]

    def state_dict(self) -> dict:
        """What continues this optimizer bit for bit: λ, the state arrays and the counters."""
        return {"lam": self.lam, "state": self.state, **{name: getattr(self, name) for name in self.counters}}

    def load_state_dict(self, state: dict) -> None:
        self.lam = np.array(state["lam"])
        self._shrink = None
        self.state = [[np.array(a) for a in group] for group in state["state"]]
        for name in self.counters:
            setattr(self, name, int(state[name]))


class GradientDescent(Optimizer):
    """θ ← (1 - 2ηλ) θ - η ∂L_data/∂θ (gd on the whole training set, sgd on mini-batches)."""

    l2_is_shrink = True

    @property
    def grad_scale(self) -> float:
        return self.lr

    def update(self, thetas, grads):
        for theta, g in zip(thetas, grads, strict=True):  # g = η ∂L_data/∂θ
            theta -= g


class Momentum(Optimizer):
    def __init__(self, lr, lam, penalize_bias=False, decay="l2", momentum: float = 0.9):
        super().__init__(lr, lam, penalize_bias, decay)
        self.momentum = momentum

    def update(self, thetas, grads):
        if not self.state:
            self.state = [[np.zeros_like(t) for t in thetas]]
        for theta, g, v in zip(thetas, grads, self.state[0], strict=True):
            v *= self.momentum
            g *= self.lr
            v -= g
            theta += v


class Adam(Optimizer):
    counters = ("t",)

    def __init__(self, lr, lam, penalize_bias=False, decay="l2", beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(lr, lam, penalize_bias, decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def update(self, thetas, grads):
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
                   beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, decay: str = "l2") -> Optimizer:
    """The step rule called ``name`` (one of choices.OPTIMIZERS but lbfgs, which l2cli.lbfgs runs) for models with
    penalty strengths lam (M,), the penalty applied as ``decay`` says (one of choices.DECAYS)."""
    makers = {
        "gd": lambda: GradientDescent(lr, lam, penalize_bias, decay),
        "sgd": lambda: GradientDescent(lr, lam, penalize_bias, decay),
        "momentum": lambda: Momentum(lr, lam, penalize_bias, decay, momentum),
        "adam": lambda: Adam(lr, lam, penalize_bias, decay, beta1, beta2, eps),
    }
    assert (*makers, "lbfgs") == choices.OPTIMIZERS
    return makers[name]()
