"""Gradient descent: θ ← θ - η g, on the whole training set (gd) or on mini-batches (sgd).

With the coupled penalty, g = ∂L_data/∂θ + 2λθ and the step is θ ← (1 - 2ηλ) θ - η ∂L_data/∂θ: the decoupled
shrink exactly, so both decays give the same bits (``l2_is_shrink``). The gradient arrives already scaled by
η (``scaled_by_lr``): one multiplication of ∂L/∂Z_L instead of one per parameter array.
"""

from __future__ import annotations

from .rule import Rule


class GradientDescent(Rule):
    name = "gd"
    help = "gradient descent on the full training set"
    full_batch = True
    scaled_by_lr = True
    l2_is_shrink = True

    def update(self, thetas, grads, state):
        for theta, g in zip(thetas, grads, strict=True):  # g = η ∂L_data/∂θ
            theta -= g


class StochasticGradientDescent(GradientDescent):
    name = "sgd"
    help = "gradient descent on mini-batches (train.batch_size)"
    full_batch = False


RULES = (GradientDescent, StochasticGradientDescent)
