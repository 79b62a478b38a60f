"""Nesterov momentum (Sutskever et al. 2013, in the form of torch.optim.SGD(nesterov=True)):

    v ← μ v - η g;  θ ← θ + μ v - η g

the step of heavy-ball momentum (l2cli.optim.momentum) taken from the look-ahead point θ + μv. With
torch's buffer b = -v/η it is b ← μ b + g; θ ← θ - η (g + μ b), which is what its test compares.
"""

from __future__ import annotations

from .momentum import Momentum


class Nesterov(Momentum):
    """Momentum's μ and velocity, and the look-ahead step."""

    name = "nesterov"
    help = "gradient descent with Nesterov momentum (train.momentum)"

    def update(self, thetas, grads, state):
        for theta, g, v in zip(thetas, grads, state[0], strict=True):
            g *= self.lr  # η g
            v *= self.momentum
            v -= g  # v ← μ v - η g
            theta -= g
            theta += self.momentum * v  # θ ← θ - η g + μ v


RULES = (Nesterov,)
