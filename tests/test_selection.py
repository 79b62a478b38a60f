"""Choosing λ with the right statistics: the one-standard-error rule over folds (ESL §7.10, cv.glmnet's
lambda.1se), the uncertainty of the choice, no silent fallback, and a remark where a result is useless.

The reference is the rule as ESL states it, computed here from cv.csv alone: each fold's validation loss (averaged
over the seeds), its mean over the K folds, SE = std_K / √K, the minimum, and the largest λ within one SE of it.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from sklearn.datasets import make_moons, make_regression
from sklearn.model_selection import KFold, StratifiedKFold

from l2cli.sweeps.selection import aggregate, fold_means, fold_spread, select, win_frequency
from l2cli.tools.estimators import L2MLPClassifierCV, L2MLPRegressorCV


def esl_one_se(cv: pd.DataFrame, cell_keys=()) -> dict:
    """The 1-SE choice from a cross-validation table, written out from ESL §7.10."""
    keys = [*cell_keys, "lambda"]
    per_fold = cv.groupby([*keys, "fold"])["val_loss"].mean().reset_index()  # each fold: mean over seeds
    table = per_fold.groupby(keys)["val_loss"].agg(["mean", "std", "count"]).reset_index()
    table["se"] = table["std"] / np.sqrt(table["count"])
    table = table[np.isfinite(table["mean"])]
    best = table.sort_values(["mean", "lambda"], ascending=[True, False]).iloc[0]
    same_cell = np.ones(len(table), bool)
    for k in cell_keys:
        same_cell &= (table[k] == best[k]).to_numpy()
    within = table[same_cell & (table["mean"] <= best["mean"] + best["se"]).to_numpy()]
    return {"min": best["lambda"], "1se": within["lambda"].max(), "se": best["se"],
            "within": sorted(within["lambda"]), "cell": {k: best[k] for k in cell_keys}}


CASES = {
    "moons, one seed": ["--set", "data.n_samples=160", "--hidden", "16", "--epochs", "300", "--seeds", "0",
                        "--lambdas", "logspace(-5,0,11)", "--cv", "5"],
    "moons, three seeds": ["--set", "data.n_samples=120", "--hidden", "8", "--epochs", "200", "--seeds", "0,1,2",
                           "--lambdas", "logspace(-4,0,9)", "--cv", "4"],
    "diabetes": ["--dataset", "diabetes", "--hidden", "8", "--epochs", "200", "--seeds", "0,1",
                 "--lambdas", "logspace(-4,1,11)", "--cv", "3"],
    "a grid": ["--set", "data.n_samples=120", "--epochs", "200", "--seeds", "0", "--lambdas", "logspace(-4,0,9)",
               "--cv", "3", "--grid", "model.hidden=[4],[16]"],
}


@pytest.fixture(scope="module", params=[name if name == "moons, three seeds" else
                                        pytest.param(name, marks=pytest.mark.slow) for name in CASES])  # ~0.6 s each
def cv_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("cv") / "run"
    result = invoke("sweep", *CASES[request.param], "--select", "1se", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return request.param, out


def test_the_cli_chooses_the_one_se_lambda_of_the_folds(cv_run):
    name, out = cv_run
    selection = json.loads((out / "selection.json").read_text())
    grid = ["model.hidden"] if name == "a grid" else []
    reference = esl_one_se(pd.read_csv(out / "cv.csv"), grid)
    assert selection["rule"] == "1se" and selection["se_over"] == "folds"
    assert selection["lambda"] == reference["1se"]
    assert selection["choices"]["min"]["lambda"] == reference["min"]
    assert selection["se"] == pytest.approx(reference["se"], rel=1e-12)
    assert selection["within_1se"] == pytest.approx(reference["within"], rel=1e-15)
    assert selection["axes"] == reference["cell"]
    if name == "moons, one seed":  # with one seed the fold SE still exists, and here it moves the choice
        assert reference["1se"] > reference["min"] and selection["se_n"] == 5


def test_show_selection_and_the_win_frequencies_of_the_run(cv_run):
    name, out = cv_run
    result = invoke("show", out, "--selection", "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert {"lambda", "val_loss_mean", "val_loss_se", "within_1se", "win_frequency"} <= set(table.columns)
    assert table["win_frequency"].sum() == pytest.approx(1.0, abs=1e-12)
    cv = pd.read_csv(out / "cv.csv")
    grid = ["model.hidden"] if name == "a grid" else []
    # by hand: in each (fold, seed), the (cell, λ) with the lowest validation loss wins
    wins = {}
    for _, rows in cv.groupby(["fold", "seed"]):
        top = rows.sort_values(["val_loss", "lambda"], ascending=[True, False]).iloc[0]
        key = (*[top[k] for k in grid], top["lambda"])
        wins[key] = wins.get(key, 0) + 1
    replicates = cv.groupby(["fold", "seed"]).ngroups
    for _, row in table.iterrows():
        key = (*[row[k] for k in grid], row["lambda"])
        assert row["win_frequency"] == pytest.approx(wins.get(key, 0) / replicates, abs=1e-15)


def test_win_frequencies_by_hand():
    """Three λ, two seeds × two folds: λ=0.1 wins twice, λ=1 once and λ=0.01 once; a tie goes to the larger λ,
    and a λ with a diverged model never wins."""
    cv = pd.DataFrame({"lambda": [0.01, 0.1, 1.0, 10.0] * 4, "seed": [0] * 8 + [1] * 8,
                       "fold": ([0] * 4 + [1] * 4) * 2, "status": "completed",
                       "val_loss": [0.5, 0.3, 0.4, 0.0,
                                    0.2, 0.3, 0.9, 0.0,
                                    0.6, 0.4, 0.4, 0.0,   # a tie between 0.1 and 1: the larger λ wins
                                    0.5, 0.1, 0.2, 0.0]})
    cv.loc[cv["lambda"] == 10.0, "status"] = "diverged"
    agg = aggregate(fold_means(cv), [])
    wins = win_frequency(agg, [], cv, ["fold", "seed"])
    np.testing.assert_array_equal(wins, [0.25, 0.5, 0.25, 0.0])


def test_one_se_with_one_seed_and_a_validation_split_is_refused_before_training(tmp_path):
    result = invoke("sweep", "--seeds", "0", "--select", "1se", "--out", tmp_path / "run")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sweep.select = 1se needs the standard error" in lines[0]
    assert "--cv 5" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_one_se_over_seeds_with_a_validation_split(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--set", "data.n_samples=120", "--hidden", "8", "--epochs", "200", "--seeds", "0,1,2",
                    "--lambdas", "logspace(-4,0,9)", "--select", "1se", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    selection = json.loads((out / "selection.json").read_text())
    summary = pd.read_csv(out / "summary.csv")
    by_lambda = summary.groupby("lambda")["val_loss"].agg(["mean", "std", "count"])
    best = by_lambda["mean"].idxmin()
    se = by_lambda.loc[best, "std"] / np.sqrt(3)
    assert selection["se_over"] == "seeds" and selection["se"] == pytest.approx(se, rel=1e-12)
    assert selection["lambda"] == by_lambda.index[by_lambda["mean"] <= by_lambda.loc[best, "mean"] + se].max()


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_the_cv_estimators_choose_the_folds_one_se_lambda(kind):
    if kind == "classifier":
        X, y = make_moons(150, noise=0.3, random_state=4)
        cls, folds = L2MLPClassifierCV, StratifiedKFold(4, shuffle=True, random_state=0)
    else:
        X, y = make_regression(120, 5, noise=20.0, random_state=4)
        y = (y - y.mean()) / y.std()
        cls, folds = L2MLPRegressorCV, KFold(4, shuffle=True, random_state=0)
    est = cls(lams="logspace(-4,0,9)", cv=folds, seeds=(0,), select="1se", hidden=(8,), epochs=200).fit(X, y)
    reference = esl_one_se(est.cv_folds_)
    assert est.lam_ == reference["1se"] and est.selection_["se"] == pytest.approx(reference["se"], rel=1e-12)
    results = pd.DataFrame(est.cv_results_)
    assert {"val_loss_se", "within_1se", "win_frequency"} <= set(results.columns)
    assert results["win_frequency"].sum() == pytest.approx(1.0)
    assert list(results.loc[results["within_1se"], "lambda"]) == pytest.approx(reference["within"])


def test_the_cv_estimators_warn_at_the_edge_of_the_grid():
    X, y = make_moons(120, noise=0.3, random_state=0)
    with pytest.warns(UserWarning, match=r"lam_ = 0.0001 is the largest of the grid.*extend the grid above 0.0001"):
        L2MLPClassifierCV(lams=[1e-5, 1e-4], cv=3, hidden=(16,), epochs=200).fit(X, y)


def test_select_one_se_without_a_standard_error_selects_nothing_and_says_why():
    agg = pd.DataFrame({"lambda": [0.01, 0.1], "n_seeds": 1, "n_diverged": 0, "val_loss_mean": [0.4, 0.5],
                        "val_loss_std": np.nan})
    chosen = select(agg, [], "1se")
    assert chosen["lambda"] is None and chosen["reason_code"] == "no_standard_error"
    assert select(agg, [], "min")["lambda"] == 0.01


def test_fold_spread_is_the_standard_error_of_the_fold_means():
    rng = np.random.default_rng(0)
    cv = pd.DataFrame([{"lambda": lam, "seed": s, "fold": f, "status": "completed", "val_loss": rng.random()}
                       for lam in (0.1, 1.0) for s in (0, 1) for f in range(5)])
    agg = aggregate(fold_means(cv), [])
    spread = fold_spread(agg, [], cv)
    for i, lam in enumerate(agg["lambda"]):
        fold_values = cv[cv["lambda"] == lam].groupby("fold")["val_loss"].mean().to_numpy()
        assert spread.se[i] == pytest.approx(fold_values.std(ddof=1) / np.sqrt(5), rel=1e-14)
    assert (spread.over, spread.n) == ("folds", 5)


def test_a_useless_result_gets_a_remark(tmp_path):
    """Pure-noise labels: no λ beats the majority class on the test rows; one note on stderr, and in selection.json."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.standard_normal(120), "b": rng.standard_normal(120),
                          "label": np.where(rng.random(120) < 0.75, "common", "rare")})
    table.to_csv(tmp_path / "noise.csv", index=False)
    out = tmp_path / "run"
    result = invoke("sweep", "--data", tmp_path / "noise.csv", "--target", "label", "--hidden", "", "--epochs", "50",
                    "--lambdas", "1,10,100", "--seeds", "0,1", "--out", out)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "majority class" in line]
    assert len(notes) == 1 and notes[0].startswith("l2cli: note: test accuracy does not beat the majority class")
    assert json.loads((out / "selection.json").read_text())["remarks"]
    good = invoke("sweep", "--set", "data.n_samples=100", "--epochs", "100", "--hidden", "8", "--lambdas",
                  "1e-3,1e-2", "--seeds", "0,1", "--out", tmp_path / "good")
    assert good.exit_code == 0 and "note:" not in good.stderr
    assert json.loads((tmp_path / "good" / "selection.json").read_text())["remarks"] == []


def test_a_regression_with_no_skill_gets_a_remark(tmp_path):
    rng = np.random.default_rng(1)
    pd.DataFrame({"a": rng.standard_normal(100), "y": rng.standard_normal(100)}).to_csv(tmp_path / "r.csv",
                                                                                          index=False)
    result = invoke("sweep", "--data", tmp_path / "r.csv", "--target", "y", "--hidden", "16", "--epochs", "100",
                    "--lambdas", "1e-5,1e-4", "--seeds", "0,1", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert sum("note: test R² ≤ 0 at every λ" in line for line in result.stderr.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["moons", "diabetes"])
def test_the_cli_and_the_cv_estimators_choose_the_same_one_se_lambda_on_the_same_folds(dataset, tmp_path):
    """The same rows, folds, λ grid and seed: `sweep --cv --select 1se` and L2MLP{Classifier,Regressor}CV(select=
    "1se") choose one λ, the one ESL's rule gives from the folds."""
    from l2cli.config import resolve
    from l2cli.sweeps.experiment import prepare

    keys = {"data.dataset": dataset, "data.standardize": False,
            "data.val_size": 0.0, "sweep.cv": 4, "sweep.lambdas": "logspace(-4,0,9)", "sweep.seeds": [0],
            "model.hidden": [8], "train.epochs": 150, "sweep.select": "1se"}
    if dataset == "moons":
        keys["data.n_samples"] = 160
    cfg = resolve(flags=keys)
    split = prepare(cfg).split
    splitter = (StratifiedKFold if dataset == "moons" else KFold)(4, shuffle=True, random_state=cfg.data.seed)
    folds = list(splitter.split(split.X_train, split.y_train))
    out = tmp_path / "run"
    args = [x for k, v in keys.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    result = invoke("sweep", *args, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    chosen = json.loads((out / "selection.json").read_text())["lambda"]
    assert chosen == esl_one_se(pd.read_csv(out / "cv.csv"))["1se"]
    cls = L2MLPClassifierCV if dataset == "moons" else L2MLPRegressorCV
    est = cls(lams="logspace(-4,0,9)", cv=folds, seeds=(0,), select="1se", hidden=(8,), epochs=150)
    # the estimators use y as given: the regressor gets the target the CLI trains on (standardized on the
    # training part, which its folds keep)
    y = split.y_train if dataset == "moons" else split.Y_train[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an interior choice: no warning about the grid's edge
        assert est.fit(split.raw_train.to_numpy(), y).lam_ == chosen
