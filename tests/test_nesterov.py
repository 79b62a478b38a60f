"""Nesterov momentum (l2cli/optim/nesterov.py): its first step against finite differences of J, its
trajectory against torch.optim.SGD(nesterov=True), and decoupled decay written out. Resume, the penalty
contract and training on every optimizer are covered by the tests parametrized over l2cli.optim.OPTIMIZERS
(test_checkpoint, test_decay, test_architecture)."""

import numpy as np
import pytest
from conftest import make_params, make_spec, reference_torch
from test_decay import LAMS, assert_same_model, batches, experiment, l2cli_models, torch_trajectory
from test_gradients import finite_difference

from l2cli.maths.objective import data_grad
from l2cli.optim import OPTIMIZERS, make_optimizer


def test_nesterov_is_an_optimizer_of_every_front_end():
    from l2cli.config import resolve
    from l2cli.tools.estimators import L2MLPClassifier

    assert "nesterov" in OPTIMIZERS
    cfg = resolve(flags={"train.optimizer": "nesterov"}, overrides=["train.momentum=0.5"])
    assert cfg.train.momentum == 0.5
    assert L2MLPClassifier(optimizer="nesterov", momentum=0.5).get_params()["momentum"] == 0.5


@pytest.mark.parametrize("penalize_bias", [False, True])
def test_the_first_step_is_the_look_ahead_step_on_the_finite_difference_gradient_of_j(penalize_bias):
    """From v = 0: v₁ = -η g, θ₁ = θ₀ - η g + μ v₁ = θ₀ - η (1 + μ) ∇J(θ₀), ∇J by central differences."""
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((9, 3)), np.eye(3)[rng.integers(0, 3, 9)]
    lam, lr, mu = np.array([0.0, 0.2, 1.5]), 0.1, 0.7
    spec = make_spec("tanh", "cross_entropy", penalize_bias=penalize_bias)
    p0 = make_params((3, 4, 3), seeds=(0, 1, 2))
    expected = [a - lr * (1 + mu) * g for a, g in zip(p0.arrays(), finite_difference(p0.copy(), X, Y, lam, spec),
                                                      strict=True)]
    opt = make_optimizer("nesterov", lr, lam, penalize_bias, "l2", momentum=mu)
    ours = p0.copy()
    opt.step(ours, *data_grad(ours, X, Y, spec, scale=opt.grad_scale))
    for a, b in zip(ours.arrays(), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    heavy_ball = make_optimizer("momentum", lr, lam, penalize_bias, "l2", momentum=mu)  # the check discriminates
    other = p0.copy()
    heavy_ball.step(other, *data_grad(other, X, Y, spec))
    assert max(np.abs(a - b).max() for a, b in zip(other.arrays(), expected, strict=True)) > 1e-3


def test_nesterov_with_decoupled_decay_shrinks_then_takes_the_look_ahead_step_on_the_data_gradient():
    """g = ∂L/∂θ;  θ ← (1 - 2ηλ)θ;  v ← μ v - η g;  θ ← θ + μ v - η g, on l2cli's mini-batches."""
    exp = experiment("nesterov", "decoupled", False, lr=0.05)
    params, final = l2cli_models(exp)
    X, Y, eta, mu = exp.split.X_train, exp.split.Y_train, 0.05, 0.9
    for m, lam in enumerate(LAMS):
        theta = params.take(np.array([m])).copy()
        velocity = [np.zeros_like(a) for a in theta.arrays()]
        for rows in batches(exp):
            dW, db = data_grad(theta, X[rows], Y[rows], exp.spec)  # at θ, before the shrink (AdamW's order)
            for W in theta.W:
                W *= 1 - 2 * eta * lam
            for a, g, v in zip(theta.arrays(), dW + db, velocity, strict=True):
                v[:] = mu * v - eta * g
                a[:] = a + mu * v - eta * g
        for ours, ref in zip(final.take(np.array([m])).arrays(), theta.arrays(), strict=True):
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.slow  # PyTorch takes seconds to import: the reference runs in the slow suite (CI)
@pytest.mark.parametrize("penalize_bias", [False, True])
def test_nesterov_follows_torch_sgd_nesterov_with_weight_decay(penalize_bias):
    """l2 ≡ torch.optim.SGD(lr=η, momentum=μ, nesterov=True, weight_decay=2λ), 50 mini-batch steps."""
    torch = reference_torch()
    exp = experiment("nesterov", "l2", penalize_bias, lr=0.05)
    params, final = l2cli_models(exp)
    for m in range(len(LAMS)):
        layers, steps = torch_trajectory(torch, exp, params, m,
                                         lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True))
        assert steps == 50
        assert_same_model(final, m, layers)
    layers, _ = torch_trajectory(torch, exp, params, 1, lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9))
    gap = max(np.abs(final.W[l][1] - layer.weight.detach().numpy().T).max() for l, layer in enumerate(layers))
    assert gap > 1e-4  # plain momentum ends elsewhere: the reference discriminates
