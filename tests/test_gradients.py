"""Analytic ∂J/∂θ against central finite differences, and the exact form of the penalty gradient."""

import itertools

import numpy as np
import pytest
from conftest import make_params, make_spec

from l2cli.maths.activations import ACTIVATIONS
from l2cli.maths.losses import loss_grad
from l2cli.maths.network import backward, forward
from l2cli.maths.objective import add_penalty_grad, data_scale, objective, objective_grad, penalty

ARCHS = [(), (5,), (4, 3)]


def problem(loss, hidden, rng, n=7, d=3, K=3):
    X = rng.standard_normal((n, d))
    if loss == "cross_entropy":
        Y = np.eye(K)[rng.integers(0, K, n)]
    elif loss == "logistic":  # one output, a 0/1 target
        K = 1
        Y = rng.integers(0, 2, (n, 1)).astype(float)
    else:
        Y = rng.standard_normal((n, K))
    return X, Y, make_params((d, *hidden, K))


def finite_difference(params, X, Y, lam, spec, h=1e-6):
    """Central differences of Σ_m J_m: each entry only moves its own model's J."""
    grads = []
    for theta in params.arrays():
        g = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape):
            old = theta[idx]
            theta[idx] = old + h
            up = objective(params, X, Y, lam, spec)[idx[0]]
            theta[idx] = old - h
            down = objective(params, X, Y, lam, spec)[idx[0]]
            theta[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("activation,loss,reduction,penalize_bias,hidden", list(itertools.product(
    ACTIVATIONS, ["cross_entropy", "logistic", "squared"], ["mean", "sum"], [False, True], ARCHS)))
def test_gradient_matches_finite_differences(activation, loss, reduction, penalize_bias, hidden, rng):
    X, Y, params = problem(loss, hidden, rng)
    spec = make_spec(activation, loss, reduction, penalize_bias)
    lam = np.array([0.0, 0.3])  # two stacked models, two strengths
    dW, db = objective_grad(params, X, Y, lam, spec)
    numeric = finite_difference(params, X, Y, lam, spec)
    for analytic, fd in zip(dW + db, numeric, strict=True):
        assert rel_error(analytic, fd) <= 1e-6


def test_gradient_check_can_fail(rng):
    """The check above detects a wrong gradient: drop the 2λW term and it fails."""
    X, Y, params = problem("squared", (5,), rng)
    spec = make_spec("tanh", "squared")
    lam = np.array([0.5, 0.5])
    dW, _ = objective_grad(params, X, Y, np.zeros(2), spec)
    numeric = finite_difference(params, X, Y, lam, spec)
    assert rel_error(dW[0], numeric[0]) > 1e-3


def test_zero_lambda_gives_exactly_the_data_gradient(rng):
    X, Y, params = problem("cross_entropy", (4, 3), rng)
    spec = make_spec("relu", "cross_entropy", "mean", penalize_bias=True)
    dW, db = objective_grad(params, X, Y, np.zeros(2), spec)
    A = forward(params, X, spec.activation)
    dZ = loss_grad(A[-1], Y, spec.loss) * data_scale("mean", len(X), len(X))
    dW0, db0 = backward(params, A, dZ, spec.activation)
    for a, b in zip(dW + db, dW0 + db0, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("penalize_bias", [False, True])
def test_penalty_gradient_is_exactly_two_lambda_W(penalize_bias, rng):
    X, Y, params = problem("squared", (5,), rng)
    spec = make_spec("tanh", "squared", "mean", penalize_bias)
    pW, pb = [np.zeros_like(W) for W in params.W], [np.zeros_like(b) for b in params.b]
    add_penalty_grad(params, pW, pb, np.ones(2), penalize_bias)  # ∂Ω/∂θ: λ = 1 on a zero data gradient
    for W, g in zip(params.W, pW, strict=True):
        np.testing.assert_array_equal(g, 2 * W)
    for b, g in zip(params.b, pb, strict=True):
        np.testing.assert_array_equal(g, 2 * b if penalize_bias else np.zeros_like(b))
    lam = np.array([0.25, 3.0])
    dW, db = objective_grad(params, X, Y, lam, spec)
    dW0, db0 = objective_grad(params, X, Y, np.zeros(2), spec)
    for l, W in enumerate(params.W):
        np.testing.assert_array_equal(dW[l], dW0[l] + (2 * lam)[:, None, None] * W)
        assert not np.array_equal(dW[l], dW0[l])
    for l, b in enumerate(params.b):
        expected = db0[l] + (2 * lam)[:, None] * b if penalize_bias else db0[l]
        np.testing.assert_array_equal(db[l], expected)


def test_penalty_is_sum_of_squares_of_every_weight(rng):
    _, _, params = problem("squared", (4, 3), rng)
    for m in range(params.n_models):
        expected = sum(float((W[m] ** 2).sum()) for W in params.W)
        assert penalty(params, False)[m] == pytest.approx(expected, rel=1e-14)
        with_b = expected + sum(float((b[m] ** 2).sum()) for b in params.b)
        assert penalty(params, True)[m] == pytest.approx(with_b, rel=1e-14)


def test_minibatch_sum_reduction_is_an_unbiased_estimate(rng):
    """With sum reduction a batch of b rows out of n scales its data gradient by n/b."""
    X, Y, params = problem("squared", (5,), rng, n=8)
    spec = make_spec("tanh", "squared", "sum")
    lam = np.zeros(2)
    full, _ = objective_grad(params, X, Y, lam, spec)
    halves = [objective_grad(params, X[i:i + 4], Y[i:i + 4], lam, spec, n_total=8)[0] for i in (0, 4)]
    for l in range(len(full)):
        np.testing.assert_allclose((halves[0][l] + halves[1][l]) / 2, full[l], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_matches_scipy_also_when_a_row_would_overflow(dtype, rng):
    from scipy.special import softmax as scipy_softmax

    from l2cli.maths.losses import softmax

    Z = rng.standard_normal((2, 5, 4)).astype(dtype) * 3
    Z[0, 1] = [1000.0, -1000.0, 0.0, 5.0]  # spread beyond exp's range: the row-mean shift overflows
    P = softmax(Z, np.empty_like(Z))
    assert P.dtype == dtype and np.all(np.isfinite(P))
    tol = 1e-15 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(P, scipy_softmax(Z.astype(np.float64), axis=-1), rtol=10 * tol, atol=tol)


def test_softmax_keeps_nan(rng):
    from l2cli.maths.losses import softmax

    Z = rng.standard_normal((1, 3, 2))
    Z[0, 2, 0] = np.nan
    P = softmax(Z)
    assert np.isnan(P[0, 2]).all() and np.isfinite(P[0, :2]).all()


@pytest.mark.parametrize("shared", [True, False])
def test_predict_in_blocks_equals_one_pass(shared, rng):
    from l2cli.maths.network import activation_buffers, predict

    params = make_params((3, 6, 5, 2), seeds=(0, 1, 2))
    X = rng.standard_normal((50, 3) if shared else (3, 50, 3))
    whole = forward(params, X, "tanh")[-1]
    blocked = predict(params, X, "tanh", activation_buffers(params.layer_sizes, 3, 7, X.dtype))  # last block: 1 row
    np.testing.assert_allclose(blocked, whole, rtol=1e-14, atol=1e-15)
    assert blocked.shape == (3, 50, 2)


def test_logistic_loss_is_binary_cross_entropy_and_stable():
    from scipy.special import expit

    from l2cli.maths.losses import loss_grad, loss_sum

    Z = np.array([[[-800.0], [-3.0], [0.0], [2.5], [800.0]]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    p = expit(Z[0, :, 0])
    with np.errstate(divide="ignore", invalid="ignore"):  # 0·log 0 at z = ±800
        direct = -(Y[:, 0] * np.log(p) + (1 - Y[:, 0]) * np.log1p(-p))
    direct[[0, 4]] = 0.0  # the exact terms there, log(1 + e^-800), are 0 in float64
    np.testing.assert_allclose(loss_sum(Z, Y, "logistic"), [direct.sum()], rtol=1e-14)
    np.testing.assert_allclose(loss_grad(Z, Y, "logistic"), (p - Y[:, 0])[None, :, None], rtol=1e-15, atol=0)


def test_backward_through_a_transposed_view_equals_through_a_copy(rng, monkeypatch):
    """Large W_l are multiplied through a view of W_lᵀ, small ones through a C-ordered copy: same numbers."""
    import l2cli.maths.network as network
    from l2cli.maths.objective import data_grad

    params = make_params((3, 100, 100, 2), seeds=(0, 1))  # W_2: 10,000 entries > COPY_TRANSPOSE_MAX
    X, Y = rng.standard_normal((9, 3)), np.eye(2)[rng.integers(0, 2, 9)]
    spec = make_spec("relu", "cross_entropy")
    ws = network.Workspace.create(params.layer_sizes, 2, 9, np.float64)
    assert ws.WT[1] is None and ws.WT[2] is not None
    viewed = [g.copy() for g in sum(data_grad(params, X, Y, spec, ws=ws), [])]
    monkeypatch.setattr(network, "COPY_TRANSPOSE_MAX", 10**9)
    copied = sum(data_grad(params, X, Y, spec), [])
    for a, b in zip(viewed, copied, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_gradcheck_passes_a_correct_gradient_on_wide_layers_at_lambda_one_and_fails_a_planted_error(monkeypatch):
    """λ = 1 on 512-512 layers: Ω ≈ 10³, whose round-off made a correct gradient fail (1.03e-6 > 1e-6) when J was
    differenced as a whole. Term by term it passes by three orders of magnitude, and an error of 1e-4 planted in
    one array's gradient, or in the penalty's, still fails."""
    import l2cli.tools.gradcheck as gc
    from l2cli.config import resolve

    cfg = resolve(flags={"model.hidden": [512, 512], "sweep.lambdas": [1.0]})
    report = gc.check_gradients(cfg, rows=4, max_entries=40)
    assert report["rel_error"].max() < 1e-8
    original = gc.objective_grad

    def planted_in(which):
        def wrong(params, X, Y, lam, spec, n_total=None):
            dW, db = original(params, X, Y, lam, spec, n_total)
            if which == "data":
                db[0] *= 1 + 1e-4
            else:  # the penalty's gradient 2λW, 1e-4 too large
                dW[1] += 1e-4 * 2 * lam[0] * params.W[1]
            return dW, db
        return wrong

    for which in ("data", "penalty"):
        monkeypatch.setattr(gc, "objective_grad", planted_in(which))
        worst = gc.check_gradients(cfg, rows=4, max_entries=40)["rel_error"].max()
        assert worst > 1e-6, which
