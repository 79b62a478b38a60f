"""A user's own CSV file: every problem one line and exit 2, scikit-learn's preprocessing fitted on training
rows only, and features.csv against scikit-learn's own linear models."""

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import flags, invoke

from l2cli.config import resolve
from l2cli.data.builtin import cv_folds
from l2cli.sweeps.experiment import prepare

FAST = ["--hidden", "8", "--optimizer", "adam", "--lr", "0.05", "--epochs", "30", "--lambdas", "1e-3,1e-1",
        "--seeds", "0"]




def animals(n=120, seed=0) -> pd.DataFrame:
    """A messy table of animal measurements: a text target, text features, missing values in features and
    target, an ISO date and an ID column."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n)
    base = {"Adelie": 39.0, "Gentoo": 47.5, "Chinstrap": 49.0}
    flipper = {"Adelie": 190.0, "Gentoo": 217.0, "Chinstrap": 196.0}
    frame = pd.DataFrame({
        "id": [f"N{k:04d}A{rng.integers(1, 9)}" for k in range(n)],
        "species": species,
        "island": [{"Adelie": "Torgersen", "Gentoo": "Biscoe", "Chinstrap": "Dream"}[s] if rng.random() < 0.7
                   else rng.choice(["Torgersen", "Biscoe", "Dream"]) for s in species],
        "bill_length_mm": [base[s] + rng.normal(0, 2.5) for s in species],
        "flipper_length_mm": [flipper[s] + rng.normal(0, 6) for s in species],
        "sex": rng.choice(["male", "female"], n),
        "date": pd.to_datetime("2007-11-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
    })
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    for col, share in (("bill_length_mm", 0.05), ("sex", 0.08), ("island", 0.03), ("species", 0.03)):
        frame.loc[rng.random(n) < share, col] = np.nan
    return frame


def write(tmp_path, frame, name="animals.csv", **kw) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False, **kw)
    return str(path)


def one_line_error(tmp_path, *args) -> str:
    out = tmp_path / "run"
    result = invoke("sweep", *args, *FAST, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == "" and not out.exists() and not list(tmp_path.glob(".*partial*"))
    return lines[0]


def test_a_messy_table_runs_with_one_extra_flag_and_learns(tmp_path):
    path = write(tmp_path, animals(240))
    refused = one_line_error(tmp_path, "--data", path, "--target", "species")
    assert "'id'" in refused and "--drop id" in refused and "an ID or a name" in refused
    out = tmp_path / "penguins"
    result = invoke("sweep", "--data", path, "--target", "species", "--drop", "id", "--hidden", "16",
                    "--epochs", "300", "--lambdas", "1e-4,1e-2,1", "--seeds", "0,1", "--out", out)
    assert result.exit_code == 0, result.output
    notes = result.stderr.splitlines()
    assert any("missing target 'species'" in line for line in notes)
    assert any("dropped" in line and "bill_length_mm" in line and "sex" in line for line in notes)
    assert any("'date' holds ISO dates" in line for line in notes)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[summary["lambda"] == 1e-4, "test_accuracy"].min() > 0.85
    manifest = json.loads((out / "manifest.json").read_text())
    features = manifest["data"]["features"]
    assert features[:3] == ["bill_length_mm", "flipper_length_mm", "date"]
    assert {"island=Biscoe", "island=Dream", "island=Torgersen", "sex=female", "sex=male"} <= set(features)
    assert manifest["network"]["layer_sizes"][0] == len(features)
    missing = manifest["data"]["missing_values"]
    assert missing["policy"] == "drop" and missing["rows_without_target"] > 0 and missing["rows_dropped"] > 0
    table = pd.read_csv(out / "features.csv")
    assert len(table) == len(summary) * len(features) and list(table["feature"][: len(features)]) == features


@pytest.mark.parametrize("na", ["mean", "median", "most_frequent"])
def test_imputing_keeps_every_row_with_a_target(tmp_path, na):
    frame = animals(150).drop(columns="id")
    path = write(tmp_path, frame)
    exp = prepare(resolve(flags={"data.path": path, "data.target": "species", "data.na": na}))
    kept = frame["species"].notna().sum()
    assert sum(len(r) for r in exp.split.rows.values()) == kept
    assert np.isfinite(exp.split.X_train).all() and np.isfinite(exp.split.X_test).all()
    assert exp.missing["imputed"] == ["island", "bill_length_mm", "sex"]


def test_preprocessing_sees_only_the_training_rows(tmp_path):
    """Poison the test and validation rows (huge numbers, unseen categories, missing values): the training
    matrix does not change by a bit, so no imputer, scaler or encoder statistic came from those rows."""
    frame = animals(200).drop(columns="id")
    flags = {"data.target": "species", "data.na": "mean", "data.val_size": 0.2}
    clean = prepare(resolve(flags={**flags, "data.path": write(tmp_path, frame, "clean.csv")}))
    rows = np.concatenate([clean.split.rows["test"], clean.split.rows["val"]])
    poisoned = frame.copy()
    kept = np.flatnonzero(frame["species"].notna())  # the split numbers the rows that have a target
    at = poisoned.index[kept[rows]]
    poisoned.loc[at, "flipper_length_mm"] *= 1000
    poisoned.loc[at, "island"] = "Atlantis"
    poisoned.loc[at[::2], "bill_length_mm"] = np.nan
    dirty = prepare(resolve(flags={**flags, "data.path": write(tmp_path, poisoned, "dirty.csv")}))
    np.testing.assert_array_equal(dirty.split.X_train, clean.split.X_train)
    assert dirty.features == clean.features  # no column for the unseen category
    assert not np.array_equal(dirty.split.X_test, clean.split.X_test)
    island = [i for i, f in enumerate(dirty.features) if f.startswith("island=")]
    assert (dirty.split.X_test[np.isin(dirty.split.rows["test"], rows), :][:, island] == 0).all()


def test_each_fold_fits_the_preprocessing_on_its_own_training_rows(tmp_path):
    frame = animals(200).drop(columns="id")
    cfg = resolve(flags={"data.path": write(tmp_path, frame), "data.target": "species", "data.na": "mean",
                         "data.val_size": 0.0, "sweep.cv": 3})
    split = prepare(cfg).split
    clean = cv_folds(split, 3, seed=0)
    for k, fold in enumerate(clean):
        held_out = np.flatnonzero(np.isin(split.rows["train"], fold.rows["val"]))
        raw = split.raw_train.copy()
        raw.loc[held_out, "flipper_length_mm"] = 1e6
        raw.loc[held_out, "island"] = "Atlantis"
        dirty = cv_folds(type(split)(**{**split.__dict__, "raw_train": raw}), 3, seed=0)[k]
        np.testing.assert_array_equal(dirty.X_train, fold.X_train)
        assert not np.array_equal(dirty.X_val, fold.X_val)


CASES = {
    "missing values refused": (lambda f: f, ["--na", "error"], "has missing values (of 120 rows): island 4, "
                               "bill_length_mm 6, sex 9, species 4;"),
    "nothing left": (lambda f: f.assign(sex=np.nan), [], "--na drop would remove 116 of 116 rows (100%"),
    "infinite value": (lambda f: f.assign(flipper_length_mm=np.where(f.index == 3, np.inf, f.flipper_length_mm)),
                       [], "infinite values in column(s) flipper_length_mm"),
    "class too small": (lambda f: f.assign(species=np.where(f.index == 5, "Emperor", f.species)), [],
                        "class 'Emperor' 1 row of target 'species' has fewer than data.min_class_rows = 2"),
    "unknown feature": (lambda f: f, ["--features", "islnd,sex"], "not columns of animals.csv: data.features 'islnd' "
                                                                   "(did you mean 'island'?)"),
    "unknown drop": (lambda f: f, ["--drop", "bill_length"], "(did you mean 'bill_length_mm'?)"),
    "features names the target": (lambda f: f, ["--features", "species"], "names the target column 'species'"),
    "too many categories": (lambda f: f.assign(sex=[f"s{k % 25}" for k in range(len(f))]), ["--na", "mean"],
                            "text column 'sex' has 25 distinct values in"),
    "regression on text": (lambda f: f, ["--task", "regression"], "not numeric"),
}


@pytest.mark.parametrize("case", CASES)
def test_every_problem_with_a_table_is_one_line_and_exit_2(tmp_path, case):
    change, flags, message = CASES[case]
    path = write(tmp_path, change(animals().drop(columns="id")))
    line = one_line_error(tmp_path, "--data", path, "--target", "species", *flags)
    assert message in line


@pytest.mark.parametrize("text,message", [
    ("a,b,a,y\n1,2,3,0\n4,5,6,1\n", "duplicate column names: 'a'"),
    ("a,y,b,y\n1,0,3,0\n4,1,6,1\n", "target column 'y' occurs 2 times"),
    ("a,b,y\n", "no data rows, only a header"),
    ("", "is empty"),
])
def test_broken_files_are_one_line_and_exit_2(tmp_path, text, message):
    path = tmp_path / "broken.csv"
    path.write_text(text)
    assert message in one_line_error(tmp_path, "--data", path, "--target", "y")


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,y\nCaf\xe9,1\n".encode("latin-1"))
    line = one_line_error(tmp_path, "--data", path, "--target", "y")
    assert "is not utf-8 text (line 2: byte 0xe9); it reads as latin-1: --encoding latin-1" in line


@pytest.mark.parametrize("flag", [["--target", "y"], ["--features", "a"], ["--drop", "a"], ["--na", "mean"],
                                  ["--sep", ";"]])
def test_csv_options_without_data_are_refused(tmp_path, flag):
    assert "--data" in one_line_error(tmp_path, *flag)


@pytest.mark.parametrize("name,sep,extra", [("semi.csv", ";", []), ("tabs.tsv", "\t", []),
                                            ("packed.csv.gz", ",", []), ("pipes.csv", "|", ["--sep", "|"])])
def test_separators_and_compression(tmp_path, name, sep, extra):
    frame = animals(90).drop(columns="id")
    path = tmp_path / name
    text = frame.to_csv(index=False, sep=sep)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    out = tmp_path / "run"
    result = invoke("sweep", "--data", path, "--target", "species", *extra, *FAST, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    features = json.loads((out / "manifest.json").read_text())["data"]["features"]
    assert features[:3] == ["bill_length_mm", "flipper_length_mm", "date"] and "island=Biscoe" in features


def test_paths_in_a_config_file_are_relative_to_the_file(tmp_path):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write(project / "data", animals(90).drop(columns="id"))
    (project / "exp.toml").write_text('[data]\npath = "data/animals.csv"\ntarget = "species"\n')
    result = invoke("sweep", project / "exp.toml", *FAST, "--out", tmp_path / "run", "-q")  # cwd is elsewhere
    assert result.exit_code == 0, result.output


def linear_run(tmp_path, frame, target, lam, **flags):
    path = write(tmp_path, frame, "linear.csv")
    cfg = resolve(flags={"data.path": path, "data.target": target, "data.val_size": 0.0, "model.hidden": [],
                         "train.optimizer": "gd", "train.lr": 0.5, "train.epochs": 6000, "sweep.lambdas": [lam],
                         "sweep.seeds": [0], **flags})
    from l2cli.sweeps.runner import run_experiment

    return prepare(cfg).split, run_experiment(cfg).features


@pytest.mark.parametrize("target,loss", [pytest.param("species", "auto", marks=pytest.mark.slow),  # ~1.2 s
                                         ("sex", "logistic")])
def test_linear_coefficients_equal_scikit_learn_logistic_regression(tmp_path, target, loss):
    """No hidden layers: l2cli at λ is LogisticRegression(C = 1/(2·n·λ)) on the same encoded matrix."""
    from sklearn.linear_model import LogisticRegression

    lam = 0.01
    split, features = linear_run(tmp_path, animals(200).drop(columns="id"), target, lam, **{"model.loss": loss})
    n = len(split.X_train)
    # newton-cholesky: lbfgs stops near ‖∇J‖ ≈ 1e-8 whatever tol is, which the flat one-hot direction
    # (curvature 2λ) turns into ~1e-7 in the weights; l2cli's gd reaches ‖∇J‖ ≈ 1e-16 here
    clf = LogisticRegression(C=1 / (2 * n * lam), solver="newton-cholesky", tol=1e-12, max_iter=10_000)
    clf.fit(split.X_train, split.y_train)
    coef = features.filter(like="coef_").to_numpy()  # (features, outputs)
    expected = clf.coef_.T  # (features, classes), or (features, 1) for two classes
    assert coef.shape == expected.shape
    np.testing.assert_allclose(coef, expected, rtol=1e-6, atol=1e-8)


def test_linear_coefficients_equal_scikit_learn_ridge(tmp_path):
    """No hidden layers, squared loss: l2cli at λ is Ridge(alpha = n·λ) on the same encoded matrix and the
    (standardized) target it trains on."""
    from sklearn.linear_model import Ridge

    frame = animals(200).drop(columns=["id", "species"])
    lam = 0.05
    split, features = linear_run(tmp_path, frame, "flipper_length_mm", lam)
    ridge = Ridge(alpha=len(split.X_train) * lam).fit(split.X_train, split.Y_train[:, 0])
    np.testing.assert_allclose(features["coef"].to_numpy(), ridge.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(features["norm"].to_numpy(), np.abs(ridge.coef_), rtol=1e-6, atol=1e-9)


def test_show_features_prints_lambda_by_feature(tmp_path):
    path = write(tmp_path, animals(120).drop(columns="id"))
    out = tmp_path / "run"
    assert invoke("sweep", "--data", path, "--target", "species", *flags(FAST, "--seeds", "0,1"), "--out", out,
                  "-q").exit_code == 0
    shown = pd.read_csv(__import__("io").StringIO(invoke("show", out, "--features", "--format", "csv").stdout))
    table = pd.read_csv(out / "features.csv")
    assert list(shown["lambda"]) == [1e-3, 1e-1]
    expected = table[(table["lambda"] == 0.1) & (table["feature"] == "island=Dream")]["norm"].mean()
    assert shown.loc[1, "island=Dream"] == pytest.approx(expected, rel=1e-12)


def test_raising_max_categories_lets_a_wide_text_column_in(tmp_path):
    frame = animals(120).drop(columns="id").assign(sex=[f"s{k % 25}" for k in range(120)])
    path = write(tmp_path, frame)
    exp = prepare(resolve(flags={"data.path": path, "data.target": "species", "data.max_categories": 25}))
    seen = exp.split.raw_train["sex"].nunique()  # the encoder knows the categories of the training rows only
    assert 20 < seen <= 25 and sum(f.startswith("sex=") for f in exp.features) == seen


def test_iso_dates_become_fractional_years():
    from l2cli.data.dates import fractional_years, parse

    values = parse(pd.Series(["2024-01-01", "2024-07-02", "2023-07-02T12:00:00Z", "2000-12-31T00:00:00+00:00"]),
                   "ISO8601")
    expected = [2024.0, 2024 + 183 / 366, 2023 + (182 + 0.5) / 365, 2000 + 365 / 366]
    np.testing.assert_allclose(fractional_years(values), expected, rtol=0, atol=1e-12)


def test_ragged_rows_are_refused_never_shifted(tmp_path):
    """One field more on every row (a trailing separator) made pandas take the first column for row labels and
    shift every column by one; fewer fields filled NaN. Both are refused, naming the first line and the counts,
    in the training file and in a predict file alike."""
    frame = animals(60).drop(columns=["id"]).dropna()
    lines = frame.to_csv(index=False).splitlines()
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("\n".join([lines[0], *(line + "," for line in lines[1:])]) + "\n")
    message = one_line_error(tmp_path, "--data", trailing, "--target", "species")
    columns = len(lines[0].split(","))
    assert f"trailing.csv line 2: {columns + 1} fields where the header has {columns}" in message
    assert "a separator at the end of every row?" in message and f"{len(lines) - 1} row(s) with more" in message
    short = tmp_path / "short.csv"
    short.write_text("\n".join([*lines[:5], lines[5].rpartition(",")[0], *lines[6:]]) + "\n")
    message = one_line_error(tmp_path, "--data", short, "--target", "species")
    assert f"short.csv line 6: {columns - 1} fields where the header has {columns}; 1 row(s) with fewer" in message
    good = tmp_path / "good.csv"
    good.write_text("\n".join(lines) + "\n")
    out = tmp_path / "ok"
    assert invoke("sweep", "--data", good, "--target", "species", *FAST, "--out", out, "-q").exit_code == 0
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join([lines[0], *(line + "," for line in lines[1:4])]) + "\n")
    predicted = invoke("predict", out, "--data", rows)
    assert predicted.exit_code == 2 and "rows.csv line 2" in predicted.stderr and predicted.stdout == ""


def test_predict_refuses_rows_it_cannot_answer_and_booleans_for_numbers(tmp_path):
    frame = animals(80).drop(columns=["id"]).dropna()
    out = tmp_path / "run"
    assert invoke("sweep", "--data", write(tmp_path, frame), "--target", "species", *FAST, "--out", out,
                  "-q").exit_code == 0
    huge = frame.head(4).copy()
    huge.loc[huge.index[2], "bill_length_mm"] = float("inf")
    result = invoke("predict", out, "--data", write(tmp_path, huge, "huge.csv"))
    assert result.exit_code == 2 and result.stdout == "" and "RuntimeWarning" not in result.output
    assert "huge.csv line 4: a value of 'bill_length_mm' is not finite (--on-error skip leaves such rows out); " \
        "1 such row(s)" in result.stderr
    far = frame.head(4).copy()
    far.loc[far.index[1], "bill_length_mm"] = 1e308  # finite, far outside: an answer only where it is finite
    result = invoke("predict", out, "--data", write(tmp_path, far, "far.csv"), "--format", "csv")
    assert "RuntimeWarning" not in result.output
    assert (result.exit_code == 2 and "far.csv line 3: the model's outputs are not finite" in result.stderr) or (
        result.exit_code == 0 and "nan" not in result.stdout.lower() and ",," not in result.stdout)
    flags_ = frame.head(3).copy()
    flags_["bill_length_mm"] = [True, False, True]
    result = invoke("predict", out, "--data", write(tmp_path, flags_, "bools.csv"))
    assert result.exit_code == 2 and "column 'bill_length_mm' holds true/false" in result.stderr
    fine = invoke("predict", out, "--data", write(tmp_path, frame.head(3), "fine.csv"), "--format", "csv")
    assert fine.exit_code == 0 and len(fine.stdout.strip().splitlines()) == 4


PENGUINS = Path(__file__).parent / "data" / "penguins-raw.csv"


def test_penguins_raw_gets_every_problem_in_one_message_and_its_fix_runs(tmp_path):
    import shlex

    line = one_line_error(tmp_path, "--data", PENGUINS, "--target", "Species")
    assert "2 problems" in line and "--na drop would remove 310 of 344 rows" in line
    assert "text column 'Individual ID' has 190 distinct values in 344 rows" in line
    fix = line.split("; all at once: ")[1]
    assert fix == "--drop 'Individual ID,Comments'"
    done = invoke("sweep", "--data", PENGUINS, "--target", "Species", *shlex.split(fix), *FAST, "--out",
                  tmp_path / "fixed", "-q")
    assert done.exit_code == 0, done.output


def test_a_mostly_empty_column_is_named_before_it_is_imputed(tmp_path):
    done = invoke("sweep", "--data", PENGUINS, "--target", "Species", "--drop", "Individual ID", "--na",
                  "most_frequent", *FAST, "--out", tmp_path / "run")
    assert done.exit_code == 0, done.output
    assert "l2cli: note: 'Comments' is 84% empty: imputing fills most of it with one value; --drop Comments " \
        "leaves it out" in done.stderr


def test_a_continuous_target_asked_to_be_classes_is_named_as_such(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=100), "yield": rng.normal(50, 10, 100).round(2)})
    line = one_line_error(tmp_path, "--data", write(tmp_path, frame, "barley.csv"), "--target", "yield", "--task",
                          "classification")
    assert "target column 'yield' looks continuous" in line and "--task regression" in line
    assert "rare" not in line
