"""train.decay: the coupled L2 penalty beside decoupled weight decay (AdamW, SGDW).

The references are PyTorch's own optimizers (Adam with weight_decay, AdamW) and the SGDW update written out from
Loshchilov & Hutter's Algorithm 1, trained from l2cli's initial weights on l2cli's mini-batches.
"""

import numpy as np
import pytest
from conftest import invoke, make_params, make_spec, reference_torch

from l2cli.config import resolve
from l2cli.maths.network import init_params
from l2cli.maths.objective import data_grad
from l2cli.optim import RULES, make_optimizer
from l2cli.sweeps.experiment import prepare
from l2cli.training.train import init_rng, shuffle_rng, train

LAMS = (1e-3, 0.05)
SEED = 3


def experiment(optimizer, decay, penalize_bias, epochs=10, batch_size=15, lr=0.01, **more):
    """wine (71 training rows): 10 epochs of 5 batches, 50 steps."""
    cfg = resolve(flags={"data.dataset": "wine", "model.hidden": [12, 8], "model.penalize_bias": penalize_bias,
                         "train.optimizer": optimizer, "train.decay": decay, "train.lr": lr,
                         "train.epochs": epochs, "train.batch_size": batch_size, "sweep.lambdas": list(LAMS),
                         "sweep.seeds": [SEED], **more})
    return prepare(cfg)


def l2cli_models(exp):
    """The models of λ = LAMS, seed SEED, trained stacked: (initial Params, final Params)."""
    params = init_params(exp.layer_sizes, [init_rng(SEED)] * len(LAMS), exp.init, exp.dtype)
    result = train(params, np.array(LAMS), [SEED] * len(LAMS), exp.arrays, exp.spec, exp.schedule)
    assert set(result.status) == {"completed"}
    return params, result.params


def batches(exp):
    """l2cli's mini-batches for SEED, epoch by epoch: the rows of each batch."""
    n, rows = len(exp.split.X_train), exp.schedule.batch_rows(len(exp.split.X_train))
    rng = shuffle_rng(SEED)
    for _ in range(exp.schedule.epochs):
        perm = rng.permutation(n)
        for s in range(0, n, rows):
            yield perm[s:s + rows]


def torch_trajectory(torch, exp, params, m, make):
    """Model m of ``params`` trained by torch on l2cli's batches with the optimizer ``make(groups)``."""
    sizes = exp.layer_sizes
    layers = [torch.nn.Linear(a, b).double() for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    with torch.no_grad():
        for layer, W, b in zip(layers, params.W, params.b, strict=True):
            layer.weight.copy_(torch.from_numpy(W[m].T.copy()))
            layer.bias.copy_(torch.from_numpy(b[m].copy()))
    net = torch.nn.Sequential(*[x for layer in layers for x in (layer, torch.nn.ReLU())][:-1])
    wd = 2 * LAMS[m]
    opt = make([{"params": [layer.weight for layer in layers], "weight_decay": wd},
                {"params": [layer.bias for layer in layers],
                 "weight_decay": wd if exp.spec.penalize_bias else 0.0}])
    X = torch.from_numpy(exp.split.X_train)
    y = torch.from_numpy(exp.split.Y_train.argmax(axis=1))
    steps = 0
    for rows in batches(exp):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
        opt.step()
        steps += 1
    return layers, steps


def assert_same_model(final, m, layers, atol=1e-10):
    for l, layer in enumerate(layers):
        np.testing.assert_allclose(final.W[l][m], layer.weight.detach().numpy().T, rtol=0, atol=atol)
        np.testing.assert_allclose(final.b[l][m], layer.bias.detach().numpy(), rtol=0, atol=atol)


@pytest.mark.slow  # PyTorch takes seconds to import: the reference runs in the slow suite (CI)
@pytest.mark.parametrize("penalize_bias", [False, True])
@pytest.mark.parametrize("decay", ["decoupled", "l2"])
def test_adam_follows_torch_adamw_when_decoupled_and_adam_weight_decay_when_l2(decay, penalize_bias):
    """decoupled ≡ torch.optim.AdamW(lr=η, weight_decay=2λ); l2 ≡ torch.optim.Adam(lr=η, weight_decay=2λ)."""
    torch = reference_torch()
    exp = experiment("adam", decay, penalize_bias)
    params, final = l2cli_models(exp)
    rule = torch.optim.AdamW if decay == "decoupled" else torch.optim.Adam
    other = torch.optim.Adam if decay == "decoupled" else torch.optim.AdamW
    for m in range(len(LAMS)):
        layers, steps = torch_trajectory(torch, exp, params, m, lambda g: rule(g, lr=0.01, eps=1e-8))
        assert steps == 50
        assert_same_model(final, m, layers)
    # the reference discriminates: the other rule ends visibly elsewhere at the larger λ
    layers, _ = torch_trajectory(torch, exp, params, 1, lambda g: other(g, lr=0.01, eps=1e-8))
    gap = max(np.abs(final.W[l][1] - layer.weight.detach().numpy().T).max() for l, layer in enumerate(layers))
    assert gap > 1e-4


@pytest.mark.parametrize("penalize_bias", [False, True])
def test_momentum_with_decoupled_decay_is_sgdw(penalize_bias):
    """Loshchilov & Hutter, Algorithm 1 (SGDW) with α = 1 and the schedule multiplier η_t = η:
        g_t = ∇L(θ_{t-1});  m_t = β₁ m_{t-1} + η g_t;  θ_t = θ_{t-1} - m_t - η w θ_{t-1},   with w = 2λ."""
    exp = experiment("momentum", "decoupled", penalize_bias, lr=0.05)
    params, final = l2cli_models(exp)
    X, Y, eta, beta1 = exp.split.X_train, exp.split.Y_train, 0.05, 0.9
    for m, lam in enumerate(LAMS):
        theta = params.take(np.array([m])).copy()
        moments = [np.zeros_like(a) for a in theta.arrays()]
        steps = 0
        for rows in batches(exp):
            dW, db = data_grad(theta, X[rows], Y[rows], exp.spec)  # ∇L only: the decay is not in the gradient
            decayed = [True] * len(dW) + [exp.spec.penalize_bias] * len(db)
            for a, g, mom, dec in zip(theta.arrays(), dW + db, moments, decayed, strict=True):
                mom[:] = beta1 * mom + eta * g
                a[:] = a - mom - (eta * 2 * lam * a if dec else 0.0)
            steps += 1
        assert steps == 50
        for ours, ref in zip(final.take(np.array([m])).arrays(), theta.arrays(), strict=True):
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_momentum_with_l2_follows_torch_sgd_momentum_weight_decay():
    torch = reference_torch()
    exp = experiment("momentum", "l2", False, lr=0.05)
    params, final = l2cli_models(exp)
    for m in range(len(LAMS)):
        layers, _ = torch_trajectory(torch, exp, params, m, lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9))
        assert_same_model(final, m, layers)


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_for_plain_gradient_descent_both_decays_are_the_same_bits(optimizer):
    """θ ← θ − η(∂L/∂θ + 2λθ) and θ ← (1 − 2ηλ)θ − η ∂L/∂θ are one update, applied by one line."""
    results = [l2cli_models(experiment(optimizer, decay, True, lr=0.1))[1] for decay in ("l2", "decoupled")]
    for a, b in zip(results[0].arrays(), results[1].arrays(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("decay", ["l2", "decoupled", "independent"])
@pytest.mark.parametrize("name", list(RULES))  # every first-order rule l2cli.optim finds
def test_every_optimizer_takes_lambda_as_its_decay_says(name, decay):
    """One step at λ equals the step at λ = 0 on ∂L/∂θ + 2λθ (l2), or on ∂L/∂θ after θ ← (1 − 2ηλ)θ (decoupled).
    An optimizer that ignored λ, or applied it the other way, fails here."""
    lam, lr = np.array([0.3, 0.0, 2.0 if decay != "independent" else 0.9]), 0.05
    p0 = make_params((4, 5, 3), seeds=(0, 1, 2))
    X = np.random.default_rng(1).standard_normal((10, 4))
    Y = np.eye(3)[np.arange(10) % 3]
    from l2cli.maths.objective import add_penalty_grad

    spec = make_spec("tanh", "cross_entropy", penalize_bias=True)
    at_lam, at_zero = make_optimizer(name, lr, lam, True, decay=decay), make_optimizer(name, lr, 0 * lam, True, "l2")
    ours = p0.copy()
    at_lam.step(ours, *data_grad(ours, X, Y, spec, scale=at_lam.grad_scale))
    ref = p0.copy()
    dW, db = data_grad(ref, X, Y, spec, scale=at_zero.grad_scale)
    if decay == "l2":
        add_penalty_grad(ref, dW, db, lam * at_zero.grad_scale, True)
    else:
        shrink = 1 - (2 * lr * lam if decay == "decoupled" else lam)
        for a in ref.arrays():
            a *= shrink.reshape((-1,) + (1,) * (a.ndim - 1))
    at_zero.step(ref, dW, db)
    for a, b in zip(ours.arrays(), ref.arrays(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    moved = [np.abs(a - b).max() for a, b in zip(ours.arrays(), p0.arrays(), strict=True)]
    assert min(moved) > 0


def test_the_objective_reported_is_j_for_both_decays():
    """Both decays report J = L_data + λΩ of the weights they reached (the tables compare like with like)."""
    from l2cli.maths.objective import data_loss, penalty

    for decay in ("l2", "decoupled"):
        exp = experiment("adam", decay, False)
        params = init_params(exp.layer_sizes, [init_rng(SEED)] * len(LAMS), exp.init, exp.dtype)
        result = train(params, np.array(LAMS), [SEED] * len(LAMS), exp.arrays, exp.spec, exp.schedule)
        last = result.history["epoch"] == exp.schedule.epochs
        J = data_loss(result.params, exp.split.X_train, exp.split.Y_train, exp.spec) + np.array(LAMS) * penalty(
            result.params, exp.spec.penalize_bias)
        np.testing.assert_allclose(result.history["objective"][last], J, rtol=1e-12)




def test_lbfgs_with_decoupled_decay_is_refused_in_one_line(tmp_path):
    for args in (["--optimizer", "lbfgs", "--decay", "decoupled"],
                 ["--optimizer", "lbfgs", "--grid", "train.decay=l2,decoupled"]):
        result = invoke("sweep", *args, "--out", tmp_path / "run", "-q")
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "train.decay = decoupled does not apply to train.optimizer = lbfgs" in lines[0]
        assert not (tmp_path / "run").exists()


def test_decay_is_a_sweep_axis_and_the_manifest_gives_the_decoupled_equivalents(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--set", "data.n_samples=80", "--hidden", "8", "--epochs", "30", "--lambdas", "1e-3,0.1",
                    "--seeds", "0", "--grid", "train.decay=l2,decoupled", "--out", out, "-q", "--format", "csv")
    assert result.exit_code == 0, result.output
    import json

    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["train.decay"].unique()) == ["decoupled", "l2"] and len(summary) == 4
    l2, dec = (summary[summary["train.decay"] == d].sort_values("lambda") for d in ("l2", "decoupled"))
    assert (l2["weight_norm"].to_numpy() != dec["weight_norm"].to_numpy()).all()  # Adam: the two rules part
    manifest = json.loads((out / "manifest.json").read_text())
    by_decay = {g["axes"]["train.decay"]: g["lambda_equivalents"] for g in manifest["cells"]}
    assert by_decay["decoupled"][1]["torch_adamw_weight_decay"] == pytest.approx(0.2)
    assert by_decay["decoupled"][1]["optax_adamw_weight_decay"] == pytest.approx(0.2)
    assert by_decay["decoupled"][1]["learning_rate"] == 0.01
    assert "torch_adamw_weight_decay" not in by_decay["l2"][1]
    assert by_decay["l2"][1]["torch_weight_decay"] == pytest.approx(0.2)


def test_the_estimators_take_decay():
    from sklearn.datasets import make_moons

    from l2cli.tools.estimators import L2MLPClassifier

    X, y = make_moons(80, noise=0.2, random_state=0)
    kw = {"hidden": (8,), "lam": 0.05, "epochs": 40}
    coupled, decoupled = (L2MLPClassifier(decay=d, **kw).fit(X, y) for d in ("l2", "decoupled"))
    assert coupled.get_params()["decay"] == "l2"
    assert not np.array_equal(coupled.coefs_[0], decoupled.coefs_[0])
    cfg = resolve(flags={"train.decay": "decoupled"})
    assert cfg.train.decay == "decoupled"
    with pytest.raises(ValueError, match="L2MLPClassifier: train.decay = decoupled does not apply"):
        L2MLPClassifier(optimizer="lbfgs", decay="decoupled").fit(X, y)
    with pytest.raises(ValueError, match="decay: 'adamw' is not one of l2, decoupled"):
        L2MLPClassifier(decay="adamw").fit(X, y)


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "sgd"])
def test_independent_decay_at_2_eta_lambda_is_decoupled_decay_bit_for_bit(optimizer):
    """Algorithm 2's shrink by λ' is AdamW's by 2ηλ when λ' = 2ηλ: one update, the same bits."""
    lr = 0.01
    decoupled = l2cli_models(experiment(optimizer, "decoupled", False, lr=lr))[1]
    exp = experiment(optimizer, "independent", False, lr=lr)
    params = init_params(exp.layer_sizes, [init_rng(SEED)] * len(LAMS), exp.init, exp.dtype)
    independent = train(params, 2 * lr * np.array(LAMS), [SEED] * len(LAMS), exp.arrays, exp.spec,
                        exp.schedule).params
    for a, b in zip(decoupled.arrays(), independent.arrays(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_independent_decay_does_not_move_with_the_learning_rate():
    """With zero data gradient, n steps of independent decay leave (1 − λ)ⁿ θ at any η; decoupled (1 − 2ηλ)ⁿ θ."""
    lam = np.array([0.01, 0.1])
    p0 = make_params((3, 4, 2), seeds=(0, 1))
    for lr in (0.001, 0.1):
        for decay, factor in (("independent", 1 - lam), ("decoupled", 1 - 2 * lr * lam)):
            opt = make_optimizer("sgd", lr, lam, False, decay=decay)
            params = p0.copy()
            for _ in range(5):
                opt.step(params, [np.zeros_like(W) for W in params.W], [np.zeros_like(b) for b in params.b])
            for W, W0 in zip(params.W, p0.W, strict=True):
                np.testing.assert_allclose(W, W0 * (factor ** 5)[:, None, None], rtol=1e-14)


def test_independent_decay_needs_lambda_below_one(tmp_path):
    result = invoke("sweep", "--decay", "independent", "--lambdas", "0.1,1", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "must be below 1; got 1" in result.output
    result = invoke("sweep", "--optimizer", "lbfgs", "--decay", "independent", "--lambdas", "0.1", "--out",
                    tmp_path / "r")
    assert result.exit_code == 2 and "independent decay shrinks θ at each step" in result.output
