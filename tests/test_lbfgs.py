"""L-BFGS: scikit-learn's lbfgs iterates from the same weights, the gradient at convergence, stacked =
one at a time, the statuses, the history and the keys that do not apply."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import make_params, make_spec, schedule, sweep

from l2cli.cli import cli
from l2cli.config import resolve
from l2cli.data.builtin import load_builtin, split_dataset
from l2cli.errors import InputError
from l2cli.maths.network import init_params
from l2cli.maths.objective import gradient_norm
from l2cli.optim.minimizer import pack, unpack
from l2cli.training.train import Arrays, init_rng, train


def sklearn_from(params, split, activation, task, alpha, max_iter):
    """scikit-learn's MLP with l2cli's initial weights, after max_iter lbfgs iterations."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if task == "classification" else MLPRegressor
    model = cls(hidden_layer_sizes=params.layer_sizes[1:-1], activation=activation, solver="lbfgs", alpha=alpha,
                max_iter=1, tol=0.0, warm_start=True)
    y = split.y_train if task == "classification" else split.Y_train[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(split.X_train, y)  # sets up the classes and the shapes
        assert [W.shape for W in model.coefs_] == [W.shape[1:] for W in params.W]  # the same network
        model.coefs_ = [W[0].copy() for W in params.W]
        model.intercepts_ = [b[0].copy() for b in params.b]
        model.set_params(max_iter=max_iter).fit(split.X_train, y)
    return model


@pytest.mark.parametrize(("dataset", "activation", "loss"), [
    ("iris", "tanh", "cross_entropy"),  # three classes: softmax
    ("breast_cancer", "relu", "logistic"),  # two classes: scikit-learn's one logistic output
    ("diabetes", "tanh", "squared"),  # regression: scikit-learn's ½·squared error, alpha = n·λ
])
def test_twenty_iterations_equal_scikit_learns_lbfgs(dataset, activation, loss):
    """From the same initial weights, 20 L-BFGS iterations of l2cli at λ and of scikit-learn's MLP at the
    Conventions table's alpha (2nλ, regression nλ) give the same weights to 1e-8."""
    split = split_dataset(load_builtin(dataset), test_size=0.5, val_size=0.0, seed=0)
    if loss == "logistic":
        split = split.with_logistic_target()
    task, n, lam = split.task, len(split.X_train), 1e-3
    params = init_params((split.n_features, 8, split.n_outputs), [init_rng(3)], "glorot")
    alpha = (2 if task == "classification" else 1) * n * lam
    theirs = sklearn_from(params, split, activation, task, alpha, max_iter=20)
    assert theirs.n_iter_ == 20
    data = Arrays(split.X_train, split.Y_train, None, None)
    ours = train(params, np.array([lam]), [0], data, make_spec(activation, loss),
                 schedule(optimizer="lbfgs", max_iter=20, gtol=0.0, history_every=0))
    assert ours.epochs[0] == 20 and ours.status == ["max_iter"]
    for a, b in zip(ours.params.arrays(), theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a[0], b, rtol=1e-8, atol=1e-10)


def lbfgs_config(**keys):
    base = {"data.dataset": "moons", "data.n_samples": 120, "model.hidden": [8], "train.optimizer": "lbfgs",
            "train.max_iter": 3000, "train.gtol": 1e-6, "train.ftol": 0.0, "train.history_every": 25,
            "sweep.lambdas": [1e-4, 1e-3, 1e-2, 1e-1], "sweep.seeds": [0, 1]}
    return resolve(flags={**base, **keys})


@pytest.mark.parametrize("activation", [pytest.param("relu", marks=pytest.mark.slow), "tanh"])  # relu: ~3 s
def test_a_converged_model_has_its_gradient_below_gtol(activation):
    """With ftol = 0, converged means max |∂J/∂θ_i| ≤ gtol. tanh makes J smooth and every model gets there;
    with ReLU's kinks the line search can stall first, and those models say so."""
    _, trained = sweep(lbfgs_config(**{"model.activation": activation}))
    s = trained.summary
    assert set(s["status"]) <= {"converged", "stalled"}
    assert (s.loc[s["status"] == "converged", "grad_norm"] <= 1e-6).all()
    assert (s["status"] == "converged").all() if activation == "tanh" else (s["status"] == "converged").any()


@pytest.mark.slow  # about 1 s: the default suite stays under 60 s
def test_at_convergence_the_gradient_is_below_gtol_and_stacked_equals_one_at_a_time():
    exp, stacked = sweep(lbfgs_config(**{"model.activation": "tanh"}))
    s = stacked.summary
    assert (s["status"] == "converged").all(), s["status"].tolist()
    assert (s["grad_norm"] <= 1e-6).all() and (s["grad_norm"] > 0).all()
    lam = s["lambda"].to_numpy()
    np.testing.assert_array_equal(gradient_norm(stacked.params, lam, exp.split.X_train, exp.split.Y_train, exp.spec),
                                  s["grad_norm"])
    _, single = sweep(lbfgs_config(**{"model.activation": "tanh", "sweep.engine": "sequential"}))
    _, two = sweep(lbfgs_config(**{"model.activation": "tanh", "sweep.workers": 2, "sweep.chunk_size": 3}))
    for other in (single, two):
        for a, b in zip(stacked.params.arrays(), other.params.arrays(), strict=True):
            assert np.array_equal(a, b)
        pd.testing.assert_frame_equal(stacked.summary, other.summary, check_exact=True)
    assert (np.diff(s.sort_values(["seed", "lambda"])["weight_norm"].to_numpy().reshape(2, 4)) < 0).all()


@pytest.mark.slow  # about 2 s of L-BFGS; the default suite stays under 60 s
def test_the_history_records_every_kth_iteration_and_the_last():
    _, trained = sweep(lbfgs_config(**{"sweep.lambdas": [1e-2], "sweep.seeds": [0]}))
    h, iterations = trained.history, int(trained.summary["epochs"].iloc[0])
    expected = sorted({0, iterations, *range(25, iterations + 1, 25)})
    assert h["epoch"].tolist() == expected
    assert h["objective"].iloc[-1] == trained.summary["objective"].iloc[0]
    assert (np.diff(h["objective"]) <= 0).all()  # L-BFGS's line search never raises J
    assert h[["train_loss", "test_loss", "val_loss", "penalty", "weight_norm"]].notna().all().all()


def test_an_iteration_limit_is_max_iter():
    _, trained = sweep(lbfgs_config(**{"train.max_iter": 5, "sweep.lambdas": [0.0]}))
    assert (trained.summary["status"] == "max_iter").all() and (trained.summary["epochs"] == 5).all()
    assert (trained.summary["grad_norm"] > 1e-6).all()


def test_pack_and_unpack_are_inverse_in_scikit_learns_order():
    params = make_params((3, 4, 2), seeds=(0,))
    theta = pack(params)
    assert theta.shape == (3 * 4 + 4 * 2 + 4 + 2,)
    assert np.array_equal(theta[:12], params.W[0][0].ravel()) and np.array_equal(theta[-2:], params.b[1][0])
    back = unpack(theta, params.layer_sizes, np.float64)
    for a, b in zip(params.arrays(), back.arrays(), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(("keys", "message"), [
    ({"train.epochs": 100}, "train.epochs does not apply to train.optimizer = lbfgs"),
    ({"train.lr": 0.1, "train.batch_size": 32}, "train.lr, train.batch_size do not apply"),
    ({"train.early_stopping": True, "data.val_size": 0.2}, "train.early_stopping does not apply"),
])
def test_first_order_keys_are_refused_with_lbfgs(keys, message):
    with pytest.raises(InputError, match=message):
        resolve(flags={"train.optimizer": "lbfgs", **keys})


def test_lbfgs_keys_are_refused_with_another_optimizer():
    with pytest.raises(InputError, match="train.max_iter does not apply to train.optimizer = adam"):
        resolve(flags={"train.max_iter": 50})


def test_a_cli_sweep_with_lbfgs_writes_the_gradient_norm(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["sweep", "--out", str(out), "--set", "train.optimizer=lbfgs", "--set",
                                      "sweep.seeds=[0]", "--set", "model.hidden=[8]", "--lambdas", "1e-3,1e-1"])
    assert result.exit_code == 0, result.output
    assert "lbfgs, up to 200 iterations" in result.output
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:9]) == ["lambda", "seed", "status", "epochs", "train_loss", "val_loss", "test_loss",
                                         "objective", "grad_norm"]
    assert set(summary["status"]) <= {"converged", "max_iter", "stalled"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["train"]["optimizer"] == "lbfgs"
