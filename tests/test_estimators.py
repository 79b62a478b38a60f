"""The scikit-learn estimators: scikit-learn's own checks, the same numbers as a sweep, λ chosen as the CLI
chooses it, Ridge, and their errors."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import sweep
from sklearn.datasets import load_diabetes, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from l2cli.cli import cli
from l2cli.config import ModelConfig, SweepConfig, TrainConfig, resolve
from l2cli.sweeps.experiment import prepare
from l2cli.tools.estimators import (
    MODEL_KEYS,
    TRAIN_KEYS,
    L2MLPClassifier,
    L2MLPClassifierCV,
    L2MLPRegressor,
    L2MLPRegressorCV,
)

#: small enough for the default suite; the slow suite checks the defaults
SMALL = {"hidden": (16,), "epochs": 300}
SMALL_CV = {**SMALL, "lams": [1e-4, 1e-2], "cv": 2, "epochs": 200}


@pytest.mark.slow  # about 20 s in all: the default suite stays under 60 s
@pytest.mark.filterwarnings("ignore:.*of the grid. the best λ may lie outside it:UserWarning")  # two-λ grids
@parametrize_with_checks([L2MLPClassifier(**SMALL), L2MLPRegressor(**SMALL), L2MLPClassifierCV(**SMALL_CV),
                          L2MLPRegressorCV(**SMALL_CV)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([L2MLPClassifier(), L2MLPRegressor()])
def test_scikit_learn_estimator_checks_with_the_defaults(estimator, check):
    """The single-model estimators as a user makes them (the CV ones with their defaults train 6 λ × 5 folds
    per fit, about 10 minutes of checks: the small ones above cover their code)."""
    check(estimator)


@pytest.mark.parametrize("cls", [L2MLPClassifier, L2MLPRegressor, L2MLPClassifierCV, L2MLPRegressorCV])
def test_defaults_are_the_configs(cls):
    params = cls().get_params()
    for section, names in ((ModelConfig(), MODEL_KEYS), (TrainConfig(), TRAIN_KEYS)):
        for name in names:
            value = list(params[name]) if name == "hidden" else params[name]
            assert value == getattr(section, name), name
    if "lams" in params:
        assert list(params["lams"]) == SweepConfig().lambdas and isinstance(params["lams"], tuple)


def moons_config(**keys):
    base = {"data.dataset": "moons", "data.n_samples": 200, "train.epochs": 300, "model.hidden": [16, 16],
            "sweep.seeds": [0], "sweep.lambdas": [0.0, 1e-3, 1e-1]}
    return resolve(flags={**base, **keys})


def test_an_estimator_trains_the_sweeps_model_bit_for_bit():
    """The same rows, λ and seed: L2MLPClassifier's weights are the sweep's, to the last bit."""
    cfg = moons_config()
    exp, trained = sweep(cfg)
    s = exp.split
    for m, lam in enumerate(cfg.sweep.lambdas):
        est = L2MLPClassifier(hidden=(16, 16), lam=lam, epochs=300, random_state=0).fit(s.X_train, s.y_train)
        for l, (W, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
            assert np.array_equal(W, trained.params.W[l][m]) and np.array_equal(b, trained.params.b[l][m])
        row = trained.summary.iloc[m]
        assert est.score(s.X_test, s.y_test) == row["test_accuracy"]
        assert est.score(s.X_train, s.y_train) == row["train_accuracy"]
        assert est.penalty_ == row["penalty"] and est.weight_norm_ == row["weight_norm"] and est.n_iter_ == 300
        assert len(est.loss_curve_) == 30 and est.loss_curve_[-1] == row["objective"]
        history = trained.history[trained.history["lambda"] == lam]
        assert list(est.history_.columns) == ["epoch", "train_loss", "penalty", "weight_norm", "objective"]
        assert np.array_equal(est.history_.to_numpy(), history[est.history_.columns].to_numpy())
        every = L2MLPClassifier(hidden=(16, 16), lam=lam, epochs=300, history_every=1).fit(s.X_train, s.y_train)
        assert len(every.loss_curve_) == 300 and every.loss_curve_[-1] == row["objective"]


def test_predict_proba_rows_sum_to_one_and_predict_is_their_argmax():
    X, y = make_moons(120, noise=0.3, random_state=0)
    labels = np.array(["left", "right"])[y]
    for loss in ("cross_entropy", "logistic"):
        est = L2MLPClassifier(hidden=(8,), epochs=200, loss=loss).fit(X, labels)
        P = est.predict_proba(X)
        assert P.shape == (120, 2)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-15)
        assert (est.predict(X) == est.classes_[P.argmax(axis=1)]).all()
        assert est.score(X, labels) == np.mean(est.predict(X) == labels) > 0.8


def cli_folds(cfg):
    """The rows and folds that ``l2cli sweep --cv`` trains on: the training part and its seeded folds."""
    exp = prepare(cfg)
    s = exp.split
    folds = StratifiedKFold(cfg.sweep.cv, shuffle=True, random_state=cfg.data.seed)
    return s.raw_train.to_numpy(), s.y_train, list(folds.split(s.X_train, s.y_train))


def cli_selection(cfg, tmp_path, runner):
    out = tmp_path / "run"
    flags = ["sweep", "--out", str(out)]
    for dotted in ("data.standardize", "train.epochs", "model.hidden", "sweep.lambdas", "sweep.seeds", "sweep.cv"):
        flags += ["--set", f"{dotted}={json.dumps(cfg.get(dotted))}"]
    result = runner.invoke(cli, [*flags, "--set", "data.n_samples=200"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "selection.json").read_text()), pd.read_csv(out / "aggregate.csv")


@pytest.mark.slow  # 5 s: the default suite stays under 60 s
@pytest.mark.parametrize("standardize", [False, True])
def test_grid_search_the_cv_estimator_and_the_cli_choose_the_same_lambda(standardize, tmp_path):
    """For the same folds and λ grid: GridSearchCV over L2MLPClassifier (by log loss), L2MLPClassifierCV and
    ``l2cli sweep --cv`` choose the same λ, and their validation losses agree. With standardized features
    the scaler is refitted on each fold: a Pipeline for GridSearchCV, the recipe in the CLI."""
    from click.testing import CliRunner

    lambdas = [0.0, 1e-3, 1e-2, 1e-1, 1.0]
    cfg = moons_config(**{"sweep.cv": 4, "data.val_size": 0.0, "data.standardize": standardize,
                          "sweep.lambdas": lambdas})
    X, y, folds = cli_folds(cfg)
    chosen, agg = cli_selection(cfg, tmp_path, CliRunner())
    params = {"hidden": (16, 16), "epochs": 300, "random_state": 0}
    clf = L2MLPClassifier(**params)
    estimator, grid = (make_pipeline(StandardScaler(), clf), {"l2mlpclassifier__lam": lambdas}) if standardize \
        else (clf, {"lam": lambdas})
    search = GridSearchCV(estimator, grid, cv=folds, scoring="neg_log_loss").fit(X, y)
    assert list(search.best_params_.values()) == [chosen["lambda"]]
    np.testing.assert_allclose(-search.cv_results_["mean_test_score"], agg["val_loss_mean"], rtol=1e-9)
    if not standardize:  # the CV estimator uses X as given: the same bits as the CLI's identity recipe
        cv_est = L2MLPClassifierCV(lams=np.array(lambdas), cv=folds, **params).fit(X, y)  # an array, as RidgeCV's
        assert cv_est.lam_ == chosen["lambda"]
        assert np.array_equal(cv_est.cv_results_["val_loss_mean"], agg["val_loss_mean"])
        ours, theirs = cv_est.cv_results_, search.cv_results_  # scikit-learn's dict of arrays, score for score
        assert ours["params"] == [{"lam": lam} for lam in lambdas]
        for key in ("mean_test_score", "std_test_score", *(f"split{k}_test_score" for k in range(4))):
            # atol: the spread over folds of a λ whose folds all give the same loss is round-off (~1e-16)
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-9, atol=1e-12, err_msg=key)
        assert np.array_equal(ours["rank_test_score"], theirs["rank_test_score"])
        same = L2MLPClassifierCV(lams=lambdas, cv=4, **{**params, "random_state": cfg.data.seed})
        assert same.fit(X, y).lam_ == chosen["lambda"]  # an int cv: the CLI's folds, seeded with random_state


def test_the_cv_estimator_refits_the_chosen_lambda_on_all_rows():
    X, y = make_moons(150, noise=0.3, random_state=1)
    est = L2MLPClassifierCV(lams="0,logspace(-3,0,4)", cv=3, seeds=(0, 1), hidden=(8,), epochs=200).fit(X, y)
    single = L2MLPClassifier(hidden=(8,), epochs=200, lam=est.lam_, random_state=0).fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, single.coefs_ + single.intercepts_, strict=True):
        assert np.array_equal(a, b)
    assert list(est.cv_results_["lambda"]) == [0.0, 1e-3, 1e-2, 1e-1, 1.0]
    assert (est.cv_results_["n_seeds"] == 2).all() and est.cv_results_["selected"].sum() == 1
    assert len(est.cv_folds_) == 5 * 2 * 3 and set(est.cv_folds_["fold"]) == {0, 1, 2}
    assert est.selection_["lambda"] == est.lam_ and est.selection_["source"] == "3-fold cross-validation"


@pytest.mark.slow  # ~0.6–1 s; the suite's time budget keeps it for CI
def test_two_processes_give_the_same_numbers_as_one():
    X, y = make_moons(150, noise=0.3, random_state=1)
    kw = {"lams": "logspace(-4,0,6)", "cv": 3, "hidden": (8,), "epochs": 200}
    one, two = L2MLPClassifierCV(**kw, n_jobs=1).fit(X, y), L2MLPClassifierCV(**kw, n_jobs=2).fit(X, y)
    pd.testing.assert_frame_equal(one.cv_folds_, two.cv_folds_, check_exact=True)


@pytest.mark.slow  # ~1 s of training; the suite's time budget keeps it for CI
def test_a_linear_regressor_is_ridge():
    """No hidden layers, squared loss, full-batch gd to convergence: the coefficients of
    Ridge(alpha = n·λ), the Conventions table's alpha, to 1e-6."""
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    lam = 1e-2
    est = L2MLPRegressor(hidden=(), lam=lam, optimizer="gd", lr=0.1, epochs=20000).fit(X, y)
    ridge = Ridge(alpha=len(y) * lam).fit(X, y)
    np.testing.assert_allclose(est.coefs_[0][:, 0], ridge.coef_, rtol=1e-10)  # the issue asks 1e-6; 8e-14 here
    np.testing.assert_allclose(est.intercepts_[0][0], ridge.intercept_, atol=1e-9)
    np.testing.assert_allclose(est.predict(X), ridge.predict(X), rtol=1e-6, atol=1e-9)


def test_a_regressor_fits_several_targets():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], X[:, 0] * 0.3])
    est = L2MLPRegressor(hidden=(), lam=0.0, epochs=500, lr=0.05).fit(X, Y)
    assert est.predict(X).shape == (100, 2) and est.score(X, Y) > 0.999
    assert est.fit(X, Y[:, 0]).predict(X).shape == (100,)


def test_a_dataframe_gives_feature_names_and_a_pipeline_takes_text_columns():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"mass": rng.normal(4000, 500, 120), "island": rng.choice(["a", "b", "c"], 120)})
    y = np.where((frame["mass"] > 4000) ^ (frame["island"] == "a"), "big", "small")
    est = L2MLPClassifier(hidden=(8,), epochs=300).fit(frame[["mass"]], y)
    assert list(est.feature_names_in_) == ["mass"]
    pre = make_column_transformer((StandardScaler(), ["mass"]), (OneHotEncoder(), ["island"]))
    pipe = make_pipeline(pre, L2MLPClassifier(hidden=(16,), epochs=500)).fit(frame, y)
    assert pipe.score(frame, y) > 0.95


@pytest.mark.parametrize(("params", "message"), [
    ({"lr": -1.0}, "L2MLPClassifier: lr: -1.0 is out of range"),
    ({"lam": -1e-3}, "L2MLPClassifier: lam: "),
    ({"optimizer": "adamw"}, "optimizer: 'adamw' is not one of"),
    ({"hidden": (0,)}, "hidden: 0 is out of range"),
    ({"early_stopping": True, "validation_fraction": 0.0}, "early_stopping needs 0 < validation_fraction < 1"),
])
def test_a_bad_parameter_is_one_value_error_naming_it(params, message):
    X, y = make_moons(40, random_state=0)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        L2MLPClassifier(**params).fit(X, y)


def test_the_cv_estimators_refuse_what_the_cli_refuses():
    X, y = make_moons(40, random_state=0)
    with pytest.raises(ValueError, match="cannot be combined with cross-validation"):
        L2MLPClassifierCV(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 folds"):
        L2MLPClassifierCV(cv=1).fit(X, y)
    with pytest.raises(ValueError, match="lams: "):
        L2MLPClassifierCV(lams="logspace(-3,0").fit(X, y)


def test_a_diverged_model_is_an_error_and_a_diverged_lambda_is_never_chosen():
    X, y = make_moons(60, noise=0.3, random_state=0)
    with pytest.raises(ValueError, match="diverged"):
        L2MLPClassifier(hidden=(8,), optimizer="sgd", lr=1e6, epochs=30).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = L2MLPClassifierCV(lams=[0.0, 1.0], cv=2, hidden=(8,), optimizer="gd", lr=1e6, epochs=30)
        with pytest.raises(ValueError, match="cannot choose λ: no λ has a finite validation loss"):
            est.fit(X, y)


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = make_moons(200, noise=0.35, random_state=0)
    est = L2MLPClassifier(hidden=(64, 64), lam=0.0, early_stopping=True, patience=20, epochs=3000).fit(X, y)
    assert est.status_ == "early_stopped" and est.n_iter_ < 3000


def test_a_tolerance_not_reached_warns():
    X, y = make_moons(60, noise=0.3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="raise epochs"):
        L2MLPClassifier(hidden=(8,), epochs=5, tol=1e-12).fit(X, y)


@pytest.mark.slow  # about 1.2 s; the default suite stays under 60 s
def test_lbfgs_through_an_estimator_is_the_sweeps_lbfgs():
    cfg = resolve(flags={"data.dataset": "moons", "data.n_samples": 200, "model.hidden": [16, 16], "sweep.seeds": [0],
                         "sweep.lambdas": [0.0, 1e-3, 1e-1], "train.optimizer": "lbfgs", "train.max_iter": 500})
    exp, trained = sweep(cfg)
    s = exp.split
    for m, lam in enumerate(cfg.sweep.lambdas):
        with warnings.catch_warnings():  # a model that reaches max_iter says so; that is checked below
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = L2MLPClassifier(hidden=(16, 16), lam=lam, optimizer="lbfgs", max_iter=500).fit(s.X_train, s.y_train)
        assert all(np.array_equal(W, trained.params.W[l][m]) for l, W in enumerate(est.coefs_))
        assert est.n_iter_ == trained.summary["epochs"].iloc[m] and est.status_ == trained.summary["status"].iloc[m]
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        L2MLPClassifier(hidden=(8,), optimizer="lbfgs", max_iter=3).fit(s.X_train, s.y_train)


@pytest.mark.slow
def test_the_docs_estimator_example_runs_as_written(monkeypatch):
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "library.md").read_text()
    block = re.search(r"## scikit-learn estimators.*?```python\n(.*?)```", page, re.S)
    monkeypatch.chdir(root)  # the example reads configs/data/animals.csv
    namespace: dict = {}
    exec(compile(block.group(1), "docs/library.md", "exec"), namespace)  # noqa: S102 - the documentation is the test
    assert namespace["cv"].lam_ == 0.01 and namespace["model"].score(namespace["X_test"], namespace["y_test"]) > 0.98
