"""An optimizer: a stack of models' update rule, and the one place where λ enters a step.

Each parameter array θ has a leading model axis; so does every piece of state and the penalty strength λ.
The regularization enters in :meth:`Optimizer.step`, around the rule (l2cli.optim.rule), which never sees
λ and so cannot skip it. ``decay`` chooses how:

    l2 (coupled):   g = ∂L_data/∂θ + 2λθ                       (the gradient of J), then the rule on g
    decoupled:      θ ← (1 - 2ηλ)·θ,  then the rule on g = ∂L_data/∂θ      (AdamW, SGDW)
    independent:    θ ← (1 - λ)·θ,    then the rule on g = ∂L_data/∂θ      (Loshchilov & Hutter, Alg. 2)

``independent`` is the decay of Loshchilov & Hutter's Algorithm 2 with a constant schedule multiplier: a shrink
by λ per step that the learning rate does not scale, so that the best λ stays put when η moves. At one η it is
``decoupled`` at λ/(2η): ``independent`` at λ' = 2ηλ shrinks by the same factor, bit for bit.

The decoupled shrink acts on the parameters the step starts from, before the rule's own update is added:
the order of ``torch.optim.AdamW``, so that ``AdamW(lr=η, weight_decay=2λ)`` is its exact equivalent. For
plain gradient descent the two decays are one update, θ ← (1 - 2ηλ) θ - η ∂L_data/∂θ, so gd and sgd always
apply the penalty as that shrink (``Rule.l2_is_shrink``): the bits are the same under both decays. Biases
are penalized, and decayed, only when ``penalize_bias`` is set.

The optimizer owns the state of its rule: :meth:`Optimizer.state_dict` and :meth:`Optimizer.load_state_dict`
(PyTorch's convention) are all a checkpoint reads and writes of it.
"""

from __future__ import annotations

import numpy as np

from ..maths.network import Params
from ..maths.objective import add_penalty_grad
from ..vocabulary import choices
from .rule import Rule


class Optimizer:
    """A rule's steps on a stack of models with penalty strengths lam (M,), the penalty applied as ``decay``
    says (one of choices.DECAYS)."""

    def __init__(self, rule: Rule, lam: np.ndarray, penalize_bias: bool, decay: str):
        if decay not in choices.DECAYS:
            raise ValueError(f"decay {decay!r} is not one of {', '.join(choices.DECAYS)}")
        self.rule = rule
        self.lam = np.asarray(lam)
        self.penalize_bias = penalize_bias
        self.decay = decay
        self.state: list[list[np.ndarray]] = []  # the rule's slots, made at the first step
        self._shrink: tuple[np.ndarray, np.ndarray | None] | None = None  # (1 - 2ηλ) for W and b

    @property
    def lr(self) -> float:
        """The step size η, the rule's."""
        return self.rule.lr

    @property
    def grad_scale(self) -> float:
        """The factor c of the data gradients that step() receives: c ∂L_data/∂θ."""
        return self.lr if self.rule.scaled_by_lr else 1.0

    @property
    def shrinks(self) -> bool:
        """Whether λ enters as a shrink of θ (by 2ηλ, or by λ) rather than as the gradient 2λθ."""
        return self.decay in ("decoupled", "independent") or self.rule.l2_is_shrink

    def step(self, params: Params, dW: list[np.ndarray], db: list[np.ndarray]) -> None:
        """Update every θ in place from c ∂L_data/∂θ (dW, db; c = grad_scale), which step may overwrite."""
        if self.shrinks:
            self.shrink(params)
        else:
            add_penalty_grad(params, dW, db, self.lam, self.penalize_bias)
        thetas = params.arrays()
        if not self.state and self.rule.slots:
            self.state = [[np.zeros_like(t) for t in thetas] for _ in range(self.rule.slots)]
        self.rule.update(thetas, dW + db, self.state)

    def shrink(self, params: Params) -> None:
        """θ ← (1 - 2ηλ)·θ (or (1 - λ)·θ, independent) for every penalized array: the weights, and the biases
        when they are penalized."""
        if self._shrink is None:
            step = self.lam if self.decay == "independent" else 2 * self.lr * self.lam
            shrink = (1 - step).astype(params.W[0].dtype, copy=False)
            self._shrink = (shrink[:, None, None], shrink[:, None] if self.penalize_bias else None)
        shrink_W, shrink_b = self._shrink
        for W in params.W:
            W *= shrink_W
        if shrink_b is not None:
            for b in params.b:
                b *= shrink_b

    def keep(self, models: np.ndarray) -> None:
        """Drop λ and the state of every model not listed in ``models``."""
        self.lam = self.lam[models]
        self._shrink = None
        self.state = [[s[models] for s in group] for group in self.state]

    def state_dict(self) -> dict:
        """What continues this optimizer bit for bit: λ, the state arrays and the rule's counters."""
        return {"lam": self.lam, "state": self.state,
                **{name: getattr(self.rule, name) for name in self.rule.counters}}

    def load_state_dict(self, state: dict) -> None:
        self.lam = np.array(state["lam"])
        self._shrink = None
        self.state = [[np.array(a) for a in group] for group in state["state"]]
        for name in self.rule.counters:
            setattr(self.rule, name, int(state[name]))
