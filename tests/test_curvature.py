"""The curvature view of L2, against references nobody here wrote: ridge's effective degrees of freedom,
Bayesian linear regression's closed-form evidence (Bishop, PRML eq. 3.86), PyTorch's exact Hessian for
logistic and softmax regression, PyTorch's Jacobians for the Gauss–Newton matrix of an MLP; the scalable
estimates against the exact values; and the evidence choosing λ."""

import json

import numpy as np
import pytest
from conftest import invoke, reference_torch

from l2cli import curvature as cv
from l2cli.config import resolve
from l2cli.evidence import log_evidence
from l2cli.experiment import prepare
from l2cli.network import Params
from l2cli.objective import data_loss, objective
from l2cli.runner import run_experiment

LAMBDAS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]




def trained(overrides, lambdas=LAMBDAS):
    """(experiment, [(λ, one-model Params)]) of an L-BFGS sweep run to its minimum."""
    cfg = resolve(overrides=["train.optimizer='lbfgs'", "sweep.seeds=[0]", f"sweep.lambdas={lambdas}",
                             "train.max_iter=3000", "train.gtol=1e-12", "train.ftol=0", "sweep.curvature='off'",
                             *overrides])
    run = run_experiment(cfg)
    w = run.weights
    L = sum(1 for k in w if k.startswith("W") and k[1:].isdigit())
    models = [(float(lam), Params([w[f"W{l}"][m:m + 1] for l in range(1, L + 1)],
                                  [w[f"b{l}"][m:m + 1] for l in range(1, L + 1)]))
              for m, lam in enumerate(run.summary["lambda"])]
    return prepare(cfg), models


def evidence_of(exp, lam, params):
    X, Y = exp.split.X_train, exp.split.Y_train
    curv = cv.exact(params, X, exp.spec)
    J = float(objective(params, X, Y, np.array([lam]), exp.spec)[0])
    L = float(data_loss(params, X, Y, exp.spec)[0])
    return curv, log_evidence(curv, lam, J, L, len(X), Y.shape[1], cv.reduction_scale(exp.spec, len(X)),
                              exp.spec.loss)


LINEAR = ["data.dataset='diabetes'", "model.hidden=[]"]


def test_effective_parameters_of_ridge_are_its_degrees_of_freedom_plus_the_intercept():
    exp, models = trained(LINEAR)
    X = exp.split.X_train
    n, d = X.shape
    Xc = X - X.mean(axis=0)  # the intercept, unpenalized, centres the problem
    for lam, params in models:
        gamma, se = cv.exact(params, X, exp.spec).effective_params(lam)
        ridge = np.trace(Xc @ np.linalg.solve(Xc.T @ Xc + n * lam * np.eye(d), Xc.T)) + 1
        assert se == 0 and abs(gamma - ridge) <= 1e-10 * ridge


def bishop_log_evidence(Phi, t, alpha, beta):
    """PRML eq. 3.86: ln p(t | α, β) of Bayesian linear regression, prior N(0, α⁻¹I) on every weight."""
    N, M = Phi.shape
    A = alpha * np.eye(M) + beta * Phi.T @ Phi
    m_N = beta * np.linalg.solve(A, Phi.T @ t)
    E = beta / 2 * np.sum((t - Phi @ m_N) ** 2) + alpha / 2 * m_N @ m_N
    return M / 2 * np.log(alpha) + N / 2 * np.log(beta) - E - np.linalg.slogdet(A)[1] / 2 - N / 2 * np.log(2 * np.pi)


def test_the_log_evidence_of_linear_regression_is_bishops_closed_form():
    exp, models = trained([*LINEAR, "model.penalize_bias=true"])
    X, t = exp.split.X_train, exp.split.Y_train[:, 0]
    n = len(X)
    Phi = np.hstack([X, np.ones((n, 1))])
    for lam, params in models:
        _, (value, se, beta) = evidence_of(exp, lam, params)
        # MacKay's β from γ, and α = β·n·λ: the same α and β in the closed form
        gamma = np.trace(Phi @ np.linalg.solve(Phi.T @ Phi + n * lam * np.eye(Phi.shape[1]), Phi.T))
        resid = t - Phi @ np.linalg.solve(Phi.T @ Phi + n * lam * np.eye(Phi.shape[1]), Phi.T @ t)
        assert beta == pytest.approx((n - gamma) / np.sum(resid ** 2), rel=1e-9)
        assert se == 0 and abs(value - bishop_log_evidence(Phi, t, beta * n * lam, beta)) <= 1e-8


@pytest.mark.slow  # PyTorch
@pytest.mark.parametrize("data,loss", [("breast_cancer", "logistic"), ("wine", "auto")])
def test_logistic_and_softmax_regression_against_pytorchs_exact_hessian(data, loss):
    torch = reference_torch()
    exp, models = trained([f"data.dataset='{data}'", "model.hidden=[]", f"model.loss='{loss}'"],
                          [1e-3, 1e-2, 1e-1])
    X, Y = exp.split.X_train, exp.split.Y_train
    n, d = X.shape
    K = Y.shape[1]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def L(theta):
        W, b = theta[:d * K].reshape(d, K), theta[d * K:]
        Z = Xt @ W + b
        if loss == "logistic":
            return (torch.nn.functional.softplus(Z) - Yt * Z).sum() / n
        return -(Yt * torch.log_softmax(Z, dim=1)).sum() / n

    for lam, params in models:
        theta = torch.tensor(cv.flat(params))
        H = torch.autograd.functional.hessian(L, theta).numpy()
        P = np.diag(cv.penalized_mask(params.layer_sizes, False).astype(float))
        M = H + 2 * lam * P
        values = np.linalg.eigvalsh(M)
        keep = values > 1e-10 * values.max()
        gamma = np.trace(H @ np.linalg.pinv(M, rcond=1e-10, hermitian=True))
        curv, (value, _, _) = evidence_of(exp, lam, params)
        assert abs(curv.effective_params(lam)[0] - gamma) <= 1e-8 * gamma
        J = float(L(theta)) + lam * float(np.sum(cv.flat(params)[:d * K] ** 2))
        P_w, kappa = d * K, n
        reference = P_w / 2 * np.log(2 * kappa * lam) - kappa * J - 0.5 * (keep.sum() * np.log(kappa)
                                                                              + np.sum(np.log(values[keep])))
        assert abs(value - reference) <= 1e-8 * abs(reference)


@pytest.mark.slow  # PyTorch
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_gauss_newton_matrix_of_an_mlp_is_the_one_of_pytorchs_jacobians(activation):
    torch = reference_torch()
    exp, models = trained(["data.dataset='wine'", "model.hidden=[6,5]", f"model.activation='{activation}'"],
                          [1e-2])
    X = exp.split.X_train
    params = models[0][1]
    sizes = params.layer_sizes
    Xt = torch.tensor(X)
    act = torch.relu if activation == "relu" else torch.tanh

    def f(theta):
        p = cv.unflat(theta, sizes)
        A = Xt
        for l, (W, b) in enumerate(zip(p.W, p.b, strict=True)):
            A = A @ W[0] + b[0]
            A = act(A) if l < len(p.W) - 1 else A
        return A

    theta = torch.tensor(cv.flat(params))
    J = torch.func.jacrev(f)(theta).numpy()  # (n, K, P)
    Z = f(theta).detach().numpy()
    p = np.exp(Z - Z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    Lam = np.einsum("nk,kj->nkj", p, np.eye(p.shape[1])) - np.einsum("nk,nj->nkj", p, p)
    G = np.einsum("nap,nab,nbq->pq", J, Lam, J) / len(X)
    mine = cv.ggn_matrix(params, X, exp.spec)
    assert np.abs(mine - G).max() <= 1e-10 * np.abs(G).max()
    np.testing.assert_allclose(cv.jacobian(params, X, activation)[0], J, rtol=0, atol=1e-12)


def test_the_jacobian_against_finite_differences_and_the_products_against_the_dense_matrix():
    exp, models = trained(["data.dataset='wine'", "model.hidden=[7]", "model.activation='tanh'"], [1e-2])
    X = exp.split.X_train[:20]
    params = models[0][1]
    theta = cv.flat(params)
    J, Z = cv.jacobian(params, X, "tanh")
    h = 1e-6
    rng = np.random.default_rng(0)
    for j in rng.choice(len(theta), 25, replace=False):
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        fd = (cv.jacobian(cv.unflat(up, params.layer_sizes), X, "tanh")[1]
              - cv.jacobian(cv.unflat(down, params.layer_sizes), X, "tanh")[1]) / (2 * h)
        np.testing.assert_allclose(J[:, :, j], fd, rtol=1e-6, atol=1e-8)
    G = cv.ggn_matrix(params, X, exp.spec)
    gn = cv.GaussNewton(params, X, exp.spec)
    v = rng.standard_normal(len(theta))
    np.testing.assert_allclose(gn.product(v), G @ v, rtol=0, atol=1e-12 * np.abs(G).max() * np.abs(v).sum())


@pytest.mark.slow  # about 1 s: the default suite stays under 60 s
def test_the_lanczos_estimates_agree_with_the_exact_values_within_their_error():
    exp, models = trained(["data.dataset='wine'", "model.hidden=[16]"], [1e-3, 1e-1])
    X = exp.split.X_train
    for lam, params in models:
        exact = cv.exact(params, X, exp.spec)
        est = cv.estimate(params, X, exp.spec, probes=12, steps=40, seed=0)
        for what in ("effective_params", "logdet"):
            (a, _), (b, se) = getattr(exact, what)(lam), getattr(est, what)(lam)
            assert se > 0 and abs(a - b) <= 4 * se + 1e-6 * abs(a), (what, lam, a, b, se)
        assert est.r_unpenalized == exact.r_unpenalized
        assert est.logdet_unpenalized == pytest.approx(exact.logdet_unpenalized, rel=1e-8)


def test_shrinkage_l2_applies_grows_with_lambda_and_gamma_stays_within_the_parameter_count():
    exp, models = trained(["data.dataset='wine'", "model.hidden=[8]"], [1e-4, 1e-2, 1.0])
    P = sum((a + 1) * b for a, b in zip(exp.layer_sizes[:-1], exp.layer_sizes[1:], strict=True))
    gammas = [cv.exact(p, exp.split.X_train, exp.spec).effective_params(lam)[0] for lam, p in models]
    assert all(0 < g < P for g in gammas) and gammas[0] > gammas[1] > gammas[2]


def test_select_evidence_chooses_the_lambda_of_the_closed_form_maximum(tmp_path):
    grid = "logspace(-4,1,11)"
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "diabetes", "--hidden", "", "--optimizer", "lbfgs", "--set",
                    "train.max_iter=3000", "--set", "train.gtol=1e-12", "--set", "train.ftol=0", "--set",
                    "model.penalize_bias=true", "--lambdas", grid, "--seeds", "0", "--select", "evidence", "--set",
                    "data.val_size=0", "--out", out)
    assert result.exit_code == 0, result.output
    selection = json.loads((out / "selection.json").read_text())
    exp = prepare(resolve(overrides=[*LINEAR, "data.val_size=0"]))
    X, t = exp.split.X_train, exp.split.Y_train[:, 0]
    n = len(X)
    Phi = np.hstack([X, np.ones((n, 1))])
    closed = {}
    for lam in resolve(overrides=[f"sweep.lambdas='{grid}'"]).sweep.lambdas:
        S = Phi.T @ Phi + n * lam * np.eye(Phi.shape[1])
        gamma = np.trace(Phi @ np.linalg.solve(S, Phi.T))
        beta = (n - gamma) / np.sum((t - Phi @ np.linalg.solve(S, Phi.T @ t)) ** 2)
        closed[lam] = bishop_log_evidence(Phi, t, beta * n * lam, beta)
    assert selection["rule"] == "evidence" and selection["lambda"] == pytest.approx(max(closed, key=closed.get))
    assert "rule evidence" in result.stderr and "curvature diagnostics (exact)" in result.stderr


def test_evidence_beside_a_validation_split_records_both_choices(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "diabetes", "--hidden", "", "--optimizer", "lbfgs", "--lambdas",
                    "logspace(-4,1,6)", "--seeds", "0", "--select", "evidence", "--out", out)
    assert result.exit_code == 0, result.output
    selection = json.loads((out / "selection.json").read_text())
    assert {"by_evidence", "by_validation"} <= set(selection)
    assert selection["by_validation"]["rule"] == "min" and selection["by_evidence"]["test_loss_mean"] > 0
    assert "; by validation λ = " in result.stderr and "test loss" in result.stderr
    summary = (out / "summary.csv").read_text().splitlines()[0]
    assert "effective_params" in summary and "log_evidence" in summary


def test_evidence_needs_the_diagnostics_on():
    result = invoke("sweep", "--select", "evidence", "--set", "sweep.curvature=off")
    assert result.exit_code == 2 and "sweep.select = evidence needs the log evidence" in result.stderr


def test_auto_turns_the_diagnostics_off_when_they_would_cost_more_than_a_quarter_of_training():
    from l2cli.diagnostics import decide

    big = prepare(resolve(overrides=["data.dataset='digits'", "model.hidden=[256]", "train.epochs=1"]))
    small = prepare(resolve(overrides=["data.dataset='diabetes'", "model.hidden=[]", "train.epochs=200"]))
    assert decide("auto", big, 6).method is None and "sweep.curvature = on computes them" in decide("auto", big,
                                                                                                    6).reason
    assert decide("auto", small, 6).method == "exact"
    assert decide("off", small, 6).method is None and decide("lanczos", small, 6).method == "lanczos"


@pytest.mark.slow  # matplotlib
def test_the_curvature_panel_draws_for_a_run_with_the_diagnostics_and_only_for_one(tmp_path):
    out = tmp_path / "run"
    assert invoke("sweep", "--dataset", "wine", "--hidden", "6", "--optimizer", "lbfgs", "--lambdas", "1e-3,1e-1",
                  "--seeds", "0", "--set", "sweep.curvature=exact", "--out", out, "-q").exit_code == 0
    drawn = invoke("plot", out, "--panel", "curvature", "-o", tmp_path / "c.png")
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plain = tmp_path / "plain"
    assert invoke("sweep", "--dataset", "wine", "--hidden", "6", "--epochs", "3", "--lambdas", "1e-3,1e-1",
                  "--seeds", "0", "--set", "sweep.curvature=off", "--out", plain, "-q").exit_code == 0
    refused = invoke("plot", plain, "--panel", "curvature", "-o", tmp_path / "p.png")
    assert refused.exit_code == 2 and "the run has no curvature diagnostics" in refused.stderr


def test_a_model_the_curvature_cannot_describe_gets_no_numbers_not_a_crash(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "curve", "--set", "data.n_train=8", "--hidden", "16", "--optimizer",
                    "lbfgs", "--lambdas", "0,1e-6", "--seeds", "0", "--set", "sweep.curvature=exact", "--out", out,
                    "-q", "--format", "csv")
    assert result.exit_code == 0, result.output
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    assert np.isnan(summary.loc[0, "log_evidence"])  # λ = 0: an improper prior
    assert summary["effective_params"].notna().all()
