"""The real commands, run through click's test runner; files read back with pandas."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

FAST = ["--dataset", "moons", "--set", "data.n_samples=100", "--set", "data.test_size=0.5",
        "--set", "data.val_size=0", "--hidden", "8", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "16",
        "--epochs", "5", "--lambdas", "0,1e-3,1e-1", "--seeds", "0,1"]




@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", *FAST, "--out", str(out), "--set", "train.history_every=1")
    assert result.exit_code == 0, result.output
    return out, result


def test_sweep_writes_every_file(run_dir):
    out, result = run_dir
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "aggregate.csv", "features.csv", "history.csv",
                                                     "manifest.json", "selection.json", "summary.csv", "weights.npz"]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary[["lambda", "seed"]].itertuples(index=False, name=None)) == [
        (0.0, 0), (0.0, 1), (0.001, 0), (0.001, 1), (0.1, 0), (0.1, 1)]
    for col in ["status", "epochs", "train_loss", "test_loss", "objective", "penalty", "weight_norm",
                "norm_W1", "norm_W2", "train_accuracy", "test_accuracy"]:
        assert col in summary.columns
    np.testing.assert_allclose(summary["objective"], summary["train_loss"] + summary["lambda"] * summary["penalty"],
                               rtol=1e-12)
    np.testing.assert_allclose(summary["weight_norm"] ** 2, summary["norm_W1"] ** 2 + summary["norm_W2"] ** 2,
                               rtol=1e-12)
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 6 * 6  # epochs 0..5 for 6 models
    assert set(history.columns) >= {"lambda", "seed", "epoch", "train_loss", "test_loss", "penalty", "weight_norm"}
    last = history[history.epoch == 5].reset_index(drop=True)
    np.testing.assert_allclose(last["test_loss"], summary["test_loss"], rtol=1e-12)


def test_stdout_table_and_stderr_log(run_dir):
    out, result = run_dir
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["lambda", "seed", "status", "epochs"]
    assert len(lines) == 2 + 6
    assert "wrote" in result.stderr and "wrote" not in result.stdout


def test_manifest_and_weights(run_dir):
    out, _ = run_dir
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["train"]["epochs"] == 5
    assert manifest["config"]["sweep"]["lambdas"] == [0.0, 0.001, 0.1]
    assert manifest["command"][0] == "l2cli" and "sweep" in manifest["command"]
    assert len(manifest["data"]["fingerprint_sha256"]) == 64
    eq = {e["lambda"]: e for e in manifest["lambda_equivalents"]}
    n_train = manifest["data"]["n_train"]
    assert n_train == 50  # 3 batches of 16, 16, 16 and one of 2 rows
    assert eq[0.1]["sklearn_alpha_full_batch"] == pytest.approx(2 * n_train * 0.1)
    assert eq[0.1]["sklearn_alpha_this_batch_size"] == pytest.approx(2 * 0.1 * 4 / (3 / 16 + 1 / 2))
    assert eq[0.1]["torch_weight_decay"] == pytest.approx(0.2) and eq[0.1]["keras_l2"] == 0.1
    assert {"numpy", "scikit-learn", "python"} <= set(manifest["versions"])
    compute = manifest["compute"]
    assert compute["blas_threads_per_worker"] >= 1 and compute["workers"] >= 1
    assert {b["num_threads"] for b in compute["blas"]} == {compute["blas_threads_per_worker"]}  # as it ran
    with np.load(out / "weights.npz", allow_pickle=False) as w:
        assert sorted(w.files) == ["W1", "W2", "b1", "b2", "cell", "lambda", "network", "seed"]
        assert json.loads(str(w["network"])) == [{"layer_sizes": [2, 8, 2], "activation": "relu",
                                                  "loss": "cross_entropy"}]
        assert w["W1"].shape == (6, 2, 8) and w["W2"].shape == (6, 8, 2) and w["b1"].shape == (6, 8)
        summary = pd.read_csv(out / "summary.csv")
        np.testing.assert_allclose(np.sqrt((w["W1"] ** 2).sum(axis=(1, 2))), summary["norm_W1"], rtol=1e-12)


def test_same_seed_same_numbers(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("sweep", *FAST, "--out", str(a)).exit_code == 0
    assert invoke("sweep", *FAST, "--out", str(b)).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(a / "summary.csv"), pd.read_csv(b / "summary.csv"))


def test_csv_data_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["y"] = X @ [1.0, -2.0, 0.5] + 0.1 * rng.standard_normal(80)
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    result = invoke("sweep", "--data", str(path), "--target", "y", "--hidden", "", "--optimizer", "gd",
                    "--lr", "0.1", "--epochs", "300", "--lambdas", "0,1", "--seeds", "0", "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert "test_r2" in summary.columns and "test_accuracy" not in summary.columns
    assert summary.loc[0, "test_r2"] > 0.95 > summary.loc[1, "test_r2"]
    assert json.loads((out / "manifest.json").read_text())["data"]["task"] == "regression"


@pytest.mark.parametrize("args,message", [
    (["--set", "train.lrr=0.1"], "did you mean 'train.lr'"),
    (["--set", "train.epochs=abc"], "train.epochs: expected an integer"),
    (["--lambdas", "logspace(-3,0)"], "bad λ grid term"),
    (["--lambdas", "-1"], "λ must be finite and ≥ 0"),
    (["--dataset", "moon"], "did you mean 'moons'"),
    (["--epochs", "0"], "out of range"),
    (["--data", "missing.csv", "--target", "y"], "data file not found"),
    (["--epoch", "3"], "No such option"),
    (["nope.toml"], "config file not found"),
    (["--dataset", "iris", "--set", "model.loss=logistic"], "logistic needs a two-class target"),
])
def test_input_errors_are_one_line_exit_2(tmp_path, args, message):
    out = tmp_path / "run"
    result = invoke("sweep", *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_existing_output_directory_is_refused(run_dir):
    out, _ = run_dir
    before = (out / "summary.csv").read_bytes()
    result = invoke("sweep", *FAST, "--out", str(out))
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert (out / "summary.csv").read_bytes() == before


def test_divergence_exits_1_with_complete_files(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "regression", "--hidden", "8", "--optimizer", "sgd", "--lr", "10",
                    "--epochs", "20", "--lambdas", "0", "--seeds", "0", "--out", str(out))
    assert result.exit_code == 1
    assert "diverged" in result.stderr
    assert pd.read_csv(out / "summary.csv")["status"].tolist() == ["diverged"]


def test_datasets_command():
    result = invoke("datasets", "--format", "csv")
    assert result.exit_code == 0
    frame = pd.read_csv(__import__("io").StringIO(result.stdout))
    assert {"iris", "digits", "diabetes", "moons", "curve"} <= set(frame["name"])
    assert frame.set_index("name").loc["digits", "features"] == 64


def test_version_and_module_entry_point():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "l2cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("l2cli, version")


def test_every_flag_declared_for_a_key_reaches_that_key(tmp_path):
    """keyed() is the one place a flag names its key: each flag, given a value of its key's kind, lands in the
    config under that key (a flag that did not would be silently ignored)."""
    import l2cli.cli  # noqa: F401  (declares the commands and their flags)
    from l2cli.cli.options import KEYED, experiment_config
    from l2cli.config import Config

    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n1,2,0\n3,4,1\n")
    values = {"data.dataset": "wine", "data.target": "y", "data.features": "a,b", "data.drop": "b",
              "data.na": "error", "data.sep": ";", "data.encoding": "cp1252", "data.decimal": ",",
              "data.thousands": ".", "data.dates": ("a",), "data.task": "classification", "sweep.lambdas": "0,1e-3",
              "sweep.seeds": "3,4", "model.hidden": "7,5", "model.activation": "tanh", "train.optimizer": "momentum",
              "train.decay": "decoupled", "train.lr": 0.123, "train.epochs": 17, "train.batch_size": 9,
              "train.dtype": "float32", "sweep.executor": "dask", "sweep.address": "tcp://127.0.0.1:8786",
              "sweep.jobs": 1, "sweep.path": "warm", "sweep.portable": True, "data.path": str(table)}
    assert set(KEYED.values()) <= set(values), set(KEYED.values()) - set(values)
    expected = {"data.features": ["a", "b"], "data.drop": ["b"], "data.dates": ["a"], "sweep.lambdas": [0.0, 1e-3],
                "sweep.seeds": [3, 4], "model.hidden": [7, 5]}
    for name, key in KEYED.items():
        options = {"config": None, "overrides": ()}
        if key != "data.dataset":  # the rest on the table, whose target is y
            options.update(data_path=str(table), target="y")
        options[name] = values[key]
        more = {"sweep.path": {"train.tol": 1e-3}, "data.thousands": {"data.decimal": ","},
                "sweep.address": {"sweep.executor": "dask"}}.get(key, {})  # the rules between keys
        cfg = experiment_config(**options, more=more)
        section, field = key.split(".")
        assert getattr(getattr(cfg, section), field) == expected.get(key, values[key]), (name, key)
        assert getattr(getattr(Config(), section), field) != getattr(getattr(cfg, section), field), key


def test_regression_losses_say_their_units_and_classification_ones_do_not(tmp_path):
    out = tmp_path / "dia"
    result = invoke("sweep", "--dataset", "diabetes", "--hidden", "4", "--epochs", "5", "--lambdas", "0.01",
                    "--seeds", "0", "--out", out)
    units = [line for line in result.stderr.splitlines() if "standardized target units" in line]
    assert result.exit_code == 0 and len(units) == 1 and "× " in units[0] and "gives the target's own units" in units[0]
    shown = invoke("show", out, "--aggregate")
    assert shown.stderr.strip() == units[0]
    moons = tmp_path / "moons"
    assert invoke("sweep", "--hidden", "4", "--epochs", "5", "--lambdas", "0.01", "--seeds", "0", "--out", moons,
                  "-q").exit_code == 0
    assert invoke("show", moons).stderr == ""


def test_datasets_leaves_classes_empty_for_regression_sets():
    table = invoke("datasets", "--format", "csv").stdout
    assert "nan" not in invoke("datasets").stdout
    assert "diabetes,regression,442,10,," in table


def test_a_dataset_and_a_data_file_together_is_the_conflict_first(tmp_path):
    (tmp_path / "x.csv").write_text("a,y\n1,0\n2,1\n")
    result = invoke("sweep", "--dataset", "iris", "--data", tmp_path / "x.csv", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "both name the data" in result.stderr
