"""Adam (Kingma & Ba):

    m ← β₁ m + (1-β₁) g;  v ← β₂ v + (1-β₂) g²;  θ ← θ - η m̂ / (√v̂ + ε),  m̂ = m / (1-β₁ᵗ),  v̂ = v / (1-β₂ᵗ)

With train.decay = decoupled it is AdamW: ``torch.optim.AdamW(lr=η, weight_decay=2λ)`` exactly.
"""

from __future__ import annotations

from ..vocabulary.kinds import FRACTION, Float, positive
from .rule import Hyper, Rule


class Adam(Rule):
    name = "adam"
    help = "Adam (train.beta1, train.beta2, train.eps); AdamW with train.decay = decoupled"
    hyper = (Hyper("beta1", 0.9, Float(FRACTION), "Adam β₁"),
             Hyper("beta2", 0.999, Float(FRACTION), "Adam β₂"),
             Hyper("eps", 1e-8, Float(positive()), "Adam ε"))
    slots = 2
    counters = ("t",)

    def update(self, thetas, grads, state):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for theta, g, m, v in zip(thetas, grads, *state, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            g *= g
            g *= 1 - b2
            v += g
            theta -= self.lr * (m / c1) / ((v / c2) ** 0.5 + self.eps)  # x ** 0.5 is numpy's sqrt


RULES = (Adam,)
