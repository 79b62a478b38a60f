"""Heavy-ball momentum: v ← μ v - η g;  θ ← θ + v  (torch.optim.SGD(momentum=μ) with v = -η·buf)."""

from __future__ import annotations

from ..vocabulary.kinds import FRACTION, Float
from .rule import Hyper, Rule

#: μ, shared with Nesterov momentum (l2cli.optim.nesterov)
MOMENTUM = Hyper("momentum", 0.9, Float(FRACTION), "momentum μ")


class Momentum(Rule):
    name = "momentum"
    help = "gradient descent with heavy-ball momentum (train.momentum)"
    hyper = (MOMENTUM,)
    slots = 1

    def update(self, thetas, grads, state):
        for theta, g, v in zip(thetas, grads, state[0], strict=True):
            v *= self.momentum
            g *= self.lr
            v -= g
            theta += v


RULES = (Momentum,)
