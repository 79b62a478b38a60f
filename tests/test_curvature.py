"""The curvature view of L2, against references nobody here wrote: ridge's effective degrees of freedom,
Bayesian linear regression's closed-form evidence (Bishop, PRML eq. 3.86, and the same with a separate prior
on the intercept), the Laplace evidence built from PyTorch's exact Hessian and PyTorch's Jacobians with dense
numpy; the scalable estimates against the exact values; no reported number moved by an internal tolerance;
and the evidence choosing λ."""

import json

import numpy as np
import pytest
from conftest import invoke, reference_torch

from l2cli.config import resolve
from l2cli.maths import curvature as cv
from l2cli.maths import evidence as ev
from l2cli.maths import lanczos
from l2cli.maths.evidence import laplace
from l2cli.maths.network import Params
from l2cli.maths.objective import data_loss, objective
from l2cli.sweeps.experiment import prepare
from l2cli.sweeps.runner import run_experiment

LAMBDAS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
ALPHA_B = 1e-2  # model.bias_precision's default


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


def evidence_of(exp, lam, params, alpha_b=ALPHA_B, method="exact"):
    X, Y = exp.split.X_train, exp.split.Y_train
    curv = cv.exact(params, X, exp.spec, lam) if method == "exact" else lanczos.estimate(params, X, exp.spec, lam, 12)
    J = float(objective(params, X, Y, np.array([lam]), exp.spec)[0])
    L = float(data_loss(params, X, Y, exp.spec)[0])
    theta, mask = cv.flat(params), cv.penalized_mask(params.layer_sizes, exp.spec.penalize_bias)
    return curv, laplace(curv, J, L, float(theta[~mask] @ theta[~mask]), len(X), Y.shape[1],
                         cv.reduction_scale(exp.spec, len(X)), exp.spec.loss, alpha_b)


def laplace_reference(G, theta, mask, lam, kappa, alpha_b, J, extra=0.0):
    """The standard Laplace formula with dense numpy: log p(D|θ*) + log p(θ*) + (P/2) log 2π − ½ log det A,
    A = κG + D, and γ = tr(A⁻¹κG)."""
    prior = np.where(mask, 2 * kappa * lam, alpha_b)
    A = kappa * G + np.diag(prior)
    sign, logdet = np.linalg.slogdet(A)
    data = -kappa * (J - lam * np.sum(theta[mask] ** 2)) + extra  # log p(D | θ*): −κL (+ the noise terms)
    log_prior = np.sum(0.5 * np.log(prior / (2 * np.pi)) - 0.5 * prior * theta ** 2)
    value = data + log_prior + len(theta) / 2 * np.log(2 * np.pi) - 0.5 * logdet
    return sign, value, np.trace(np.linalg.solve(A, kappa * G))


LINEAR = ["data.dataset='diabetes'", "model.hidden=[]"]


def test_effective_parameters_of_ridge_are_its_degrees_of_freedom_plus_the_intercept():
    exp, models = trained(LINEAR)
    X = exp.split.X_train
    n, d = X.shape
    Xc = X - X.mean(axis=0)  # the intercept, unpenalized, centres the problem
    for lam, params in models:
        # a prior on the intercept this broad leaves it counting fully, as in ridge
        _, result = evidence_of(exp, lam, params, alpha_b=1e-12)
        ridge = np.trace(Xc @ np.linalg.solve(Xc.T @ Xc + n * lam * np.eye(d), Xc.T)) + 1
        assert result.gamma_se == 0 and abs(result.gamma - ridge) <= 1e-9 * ridge


def bishop_log_evidence(Phi, t, alpha, beta):
    """PRML eq. 3.86: ln p(t | α, β) of Bayesian linear regression with the prior N(0, diag(α)⁻¹): α a
    number (every weight alike, as in the book) or one precision per weight."""
    N, M = Phi.shape
    alpha = np.broadcast_to(np.asarray(alpha, float), (M,))
    A = np.diag(alpha) + beta * Phi.T @ Phi
    m_N = beta * np.linalg.solve(A, Phi.T @ t)
    E = beta / 2 * np.sum((t - Phi @ m_N) ** 2) + 0.5 * m_N @ (alpha * m_N)
    return np.sum(np.log(alpha)) / 2 + N / 2 * np.log(beta) - E - np.linalg.slogdet(A)[1] / 2 \
        - N / 2 * np.log(2 * np.pi)


def test_the_log_evidence_of_linear_regression_is_bishops_closed_form():
    exp, models = trained([*LINEAR, "model.penalize_bias=true"])
    X, t = exp.split.X_train, exp.split.Y_train[:, 0]
    n = len(X)
    Phi = np.hstack([X, np.ones((n, 1))])
    for lam, params in models:
        _, result = evidence_of(exp, lam, params)
        # MacKay's β from γ, and α = β·n·λ: the same α and β in the closed form
        gamma = np.trace(Phi @ np.linalg.solve(Phi.T @ Phi + n * lam * np.eye(Phi.shape[1]), Phi.T))
        resid = t - Phi @ np.linalg.solve(Phi.T @ Phi + n * lam * np.eye(Phi.shape[1]), Phi.T @ t)
        assert result.beta == pytest.approx((n - gamma) / np.sum(resid ** 2), rel=1e-9)
        assert result.log_evidence_se == 0
        assert abs(result.log_evidence - bishop_log_evidence(Phi, t, result.beta * n * lam, result.beta)) <= 1e-8


def test_with_an_unpenalized_intercept_the_evidence_is_bishops_form_with_the_intercepts_own_prior():
    exp, models = trained(LINEAR)
    X, t = exp.split.X_train, exp.split.Y_train[:, 0]
    n, d = X.shape
    Phi = np.hstack([X, np.ones((n, 1))])
    for lam, params in models:
        _, result = evidence_of(exp, lam, params)
        beta = result.beta
        alpha = np.r_[np.full(d, beta * n * lam), ALPHA_B]  # α = 2κλ on the weights, α_b on the intercept
        A = np.diag(alpha) + beta * Phi.T @ Phi
        m_N = beta * np.linalg.solve(A, Phi.T @ t)
        theta = cv.flat(params)[[*range(d), d]]  # l2cli's θ*: its intercept has no prior pulling it to 0
        # β is MacKay's (N − γ)/Σr² at θ*, with γ = tr(A⁻¹βΦᵀΦ) under this prior
        gamma = np.trace(np.linalg.solve(A, beta * Phi.T @ Phi))
        assert beta == pytest.approx((n - gamma) / np.sum((t - Phi @ theta) ** 2), rel=1e-9)
        assert result.gamma == pytest.approx(gamma, rel=1e-10)
        # the posterior is Gaussian, so at any θ: ln p(t) = ln p(t, θ) + ½(θ − m_N)ᵀA(θ − m_N) + (P/2) ln 2π
        # − ½ ln det A; the Laplace formula at θ* is that without the quadratic term, which is the gap between
        # l2cli's θ* and the posterior mean
        gap = 0.5 * (theta - m_N) @ A @ (theta - m_N)
        assert abs(result.log_evidence + gap - bishop_log_evidence(Phi, t, alpha, beta)) <= 1e-8


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
        theta = cv.flat(params)
        H = torch.autograd.functional.hessian(L, torch.tensor(theta)).numpy()
        mask = cv.penalized_mask(params.layer_sizes, False)
        J = float(L(torch.tensor(theta))) + lam * float(np.sum(theta[mask] ** 2))
        sign, value, gamma = laplace_reference(H, theta, mask, lam, n, ALPHA_B, J)
        _, result = evidence_of(exp, lam, params)
        assert sign > 0 and abs(result.gamma - gamma) <= 1e-8 * gamma
        assert abs(result.log_evidence - value) <= 1e-8 * abs(value)


def mlp_function(torch, sizes, X, activation):
    Xt = torch.tensor(X)
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]

    def f(theta):
        p = cv.unflat(theta, sizes)
        A = Xt
        for l, (W, b) in enumerate(zip(p.W, p.b, strict=True)):
            A = A @ W[0] + b[0]
            A = act(A) if l < len(p.W) - 1 else A
        return A
    return f


def torch_gauss_newton(torch, params, X, activation, loss):
    """G = (1/n) Σ J_iᵀ Λ_i J_i from torch's Jacobian of the outputs and Λ written out by hand."""
    f = mlp_function(torch, params.layer_sizes, X, activation)
    theta = torch.tensor(cv.flat(params))
    J = torch.func.jacrev(f)(theta).numpy()  # (n, K, P)
    Z = f(theta).detach().numpy()
    if loss == "squared":
        Lam = np.broadcast_to(2 * np.eye(Z.shape[1]), (len(Z), Z.shape[1], Z.shape[1]))
    else:
        p = np.exp(Z - Z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        Lam = np.einsum("nk,kj->nkj", p, np.eye(p.shape[1])) - np.einsum("nk,nj->nkj", p, p)
    return np.einsum("nap,nab,nbq->pq", J, Lam, J) / len(X), Z


@pytest.mark.slow  # PyTorch
@pytest.mark.parametrize("data,loss", [("wine", "cross_entropy"), ("diabetes", "squared")])
def test_the_evidence_of_a_tanh_network_with_free_biases_against_torch_jacobians_and_dense_numpy(data, loss):
    torch = reference_torch()
    exp, models = trained([f"data.dataset='{data}'", "model.hidden=[16]", "model.activation='tanh'"], [1e-3, 1e-1])
    X, Y = exp.split.X_train, exp.split.Y_train
    n, K = Y.shape
    for lam, params in models:
        G, Z = torch_gauss_newton(torch, params, X, "tanh", loss)
        theta = cv.flat(params)
        mask = cv.penalized_mask(params.layer_sizes, False)
        L = float(data_loss(params, X, Y, exp.spec)[0])
        J = L + lam * float(np.sum(theta[mask] ** 2))
        if loss == "squared":  # κ = β n / 2 with β = (N − γ)/(n L): the reference iterates MacKay's update
            kappa = n / (2 * L)
            for _ in range(200):
                A = kappa * G + np.diag(np.where(mask, 2 * kappa * lam, ALPHA_B))
                kappa = (n * K - np.trace(np.linalg.solve(A, kappa * G))) / (2 * L)
            beta = 2 * kappa / n
            extra = n * K / 2 * (np.log(beta) - np.log(2 * np.pi))
        else:
            kappa, extra = n, 0.0
        sign, value, gamma = laplace_reference(G, theta, mask, lam, kappa, ALPHA_B, J, extra)
        _, result = evidence_of(exp, lam, params)
        assert sign > 0 and result.kappa == pytest.approx(kappa, rel=1e-9)
        assert abs(result.gamma - gamma) <= 1e-6 * gamma and abs(result.log_evidence - value) <= 1e-6 * abs(value)


@pytest.mark.slow  # PyTorch
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_gauss_newton_matrix_of_an_mlp_is_the_one_of_pytorchs_jacobians(activation):
    torch = reference_torch()
    exp, models = trained(["data.dataset='wine'", "model.hidden=[6,5]", f"model.activation='{activation}'"],
                          [1e-2])
    X = exp.split.X_train
    params = models[0][1]
    f = mlp_function(torch, params.layer_sizes, X, activation)
    theta = torch.tensor(cv.flat(params))
    J = torch.func.jacrev(f)(theta).numpy()  # (n, K, P)
    G, _ = torch_gauss_newton(torch, params, X, activation, "cross_entropy")
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
    gn = lanczos.GaussNewton(params, X, exp.spec)
    v = rng.standard_normal(len(theta))
    np.testing.assert_allclose(gn.product(v), G @ v, rtol=0, atol=1e-12 * np.abs(G).max() * np.abs(v).sum())


@pytest.mark.slow  # about 1 s: the default suite stays under 60 s
@pytest.mark.parametrize("data", ["wine", "diabetes"])
def test_the_lanczos_estimates_agree_with_the_exact_values_within_their_error(data):
    exp, models = trained([f"data.dataset='{data}'", "model.hidden=[16]"], [1e-3, 1e-1])
    for lam, params in models:
        _, exact = evidence_of(exp, lam, params)
        curv, est = evidence_of(exp, lam, params, method="lanczos")
        assert curv.method == "lanczos" and exact.gamma_se == 0
        for value, se in (("gamma", "gamma_se"), ("log_evidence", "log_evidence_se")):
            a, b, err = getattr(exact, value), getattr(est, value), getattr(est, se)
            assert err > 0 and abs(a - b) <= 4 * err + 1e-6 * abs(a), (value, lam, a, b, err)


@pytest.mark.slow  # about 1 s; the default suite stays under 60 s
def test_shrinkage_l2_applies_grows_with_lambda_and_gamma_stays_within_the_parameter_count():
    exp, models = trained(["data.dataset='wine'", "model.hidden=[8]"], [1e-4, 1e-2, 1.0])
    P = sum((a + 1) * b for a, b in zip(exp.layer_sizes[:-1], exp.layer_sizes[1:], strict=True))
    gammas = [evidence_of(exp, lam, p)[1].gamma for lam, p in models]
    assert all(0 < g < P for g in gammas) and gammas[0] > gammas[1] > gammas[2]


TOLERANCES = [(lanczos, "BREAKDOWN"), (cv, "NODE_PRECISION"), (ev, "ROOT_RTOL")]


@pytest.mark.slow  # three sweeps of each data set, two curvature methods: about 10 s
@pytest.mark.parametrize("data", [["data.dataset='wine'", "model.hidden=[16]"], ["data.dataset='moons'",
                                                                              "model.hidden=[16]"]])
@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_no_internal_tolerance_moves_the_evidence_or_the_chosen_lambda(monkeypatch, data, method):
    """Every numerical tolerance of the curvature and evidence code, 10⁴ times smaller and larger: the log
    evidence moves by less than 0.01 nat and the evidence's choice of λ stays (a rank cut-off moved it by
    tens of nats)."""
    cfg = resolve(overrides=[*data, "model.activation='tanh'", "train.optimizer='lbfgs'", "train.max_iter=3000",
                             "train.gtol=1e-9", "sweep.seeds=[0]", "sweep.lambdas='logspace(-4,0,5)'",
                             f"sweep.curvature='{method}'", "sweep.select='evidence'"])
    base = run_experiment(cfg)
    assert base.summary["log_evidence"].notna().sum() >= 4
    for factor in (1e-4, 1e4):
        with monkeypatch.context() as m:
            for module, name in TOLERANCES:
                m.setattr(module, name, getattr(module, name) * factor)
            moved = run_experiment(cfg)
        diff = (moved.summary["log_evidence"] - base.summary["log_evidence"]).abs()
        assert diff.max() < 0.01, (factor, diff.tolist())
        assert moved.selection["lambda"] == base.selection["lambda"]


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
    from l2cli.sweeps.diagnostics import decide

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
                    "--format", "csv")
    assert result.exit_code == 0, result.output
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    # λ = 0: an improper prior, so neither an evidence nor a γ; λ = 1e-6: a number, or a reason for none
    assert np.isnan(summary.loc[0, "log_evidence"]) and np.isnan(summary.loc[0, "effective_params"])
    assert summary.loc[1, "log_evidence"] == summary.loc[1, "log_evidence"] or \
        "1 of 2 models got no log evidence or γ: 1 " in result.stderr, result.stderr


def test_models_stopped_at_max_iter_get_no_evidence_and_the_choice_says_how_many_it_left_out(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "moons", "--hidden", "8", "--activation", "tanh", "--optimizer", "lbfgs",
                    "--set", "train.max_iter=30", "--seeds", "0,1", "--select", "evidence", "--out", out)
    assert result.exit_code == 0, result.output
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    stopped = summary["status"] == "max_iter"
    assert stopped.any() and (~stopped).any()
    assert summary.loc[stopped, ["log_evidence", "effective_params"]].isna().all().all()
    assert summary.loc[~stopped & (summary["lambda"] > 0), "log_evidence"].notna().all()
    line = f"{int(stopped.sum())} of {len(summary)} models got no log evidence or γ: {int(stopped.sum())} stopped " \
           "at train.max_iter"
    assert line in result.stderr
    selection = json.loads((out / "selection.json").read_text())
    left = summary[stopped]["lambda"].nunique()
    assert selection["n_left_out"] == left and line in selection["left_out_reason"]
    assert f"{left} λ left out with no evidence" in result.stderr
    assert selection["lambda"] not in set(summary[stopped]["lambda"])
