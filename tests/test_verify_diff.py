"""verify: the reproducibility check for CI; diff: two runs side by side."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import flags, invoke

SMALL = ["--dataset", "moons", "--set", "data.n_samples=100", "--hidden", "8", "--optimizer", "adam", "--lr", "0.02",
         "--epochs", "40", "--lambdas", "1e-4,1e-2,1", "--seeds", "0,1"]




@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify") / "run"
    result = invoke("sweep", *flags(SMALL, drop=["--hidden"]), "--grid", "model.hidden=[4],[8]", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


def copy_of(run, tmp_path):
    import shutil

    shutil.copytree(run, tmp_path / "copy")
    return tmp_path / "copy"


def test_verify_passes_on_a_fresh_run(run):
    result = invoke("verify", run)
    assert result.exit_code == 0, result.output
    assert "verified" in result.stderr and "summary.csv, history.csv, weights.npz are equal" in result.stderr
    assert result.stdout == ""


def test_verify_replays_both_decays_exactly_and_catches_a_changed_weight(tmp_path):
    out = tmp_path / "decay"
    result = invoke("sweep", *SMALL, "--grid", "train.decay=l2,decoupled", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert invoke("verify", out).exit_code == 0
    weights = dict(np.load(out / "weights.npz"))
    weights["W1"][-1, 0, 0] += 1e-12  # the last model: a decoupled one
    np.savez(out / "weights.npz", **weights)
    result = invoke("verify", out, "--format", "csv")
    assert result.exit_code == 1 and "1 of" in result.stderr
    row = pd.read_csv(io.StringIO(result.stdout)).iloc[0]
    assert (row["file"], row["train.decay"]) == ("weights.npz", "decoupled")


def test_verify_names_the_cell_of_a_changed_number(run, tmp_path):
    changed = copy_of(run, tmp_path)
    summary = pd.read_csv(changed / "summary.csv")
    summary.loc[5, "test_loss"] *= 1 + 1e-9
    summary.to_csv(changed / "summary.csv", index=False)
    result = invoke("verify", changed, "--format", "csv")
    assert result.exit_code == 1 and "verify FAILED" in result.stderr and "1 of" in result.stderr
    rows = pd.read_csv(io.StringIO(result.stdout))
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["file"], row["column"], row["lambda"], row["seed"]) == (
        "summary.csv", "test_loss", summary.loc[5, "lambda"], summary.loc[5, "seed"])
    assert row["model.hidden"] == summary.loc[5, "model.hidden"]
    assert row["rel_diff"] == pytest.approx(1e-9, rel=1e-3)
    assert invoke("verify", changed, "--rtol", "1e-8").exit_code == 0  # within a tolerance


def test_verify_reports_changed_weights(run, tmp_path):
    changed = copy_of(run, tmp_path)
    with np.load(changed / "weights.npz", allow_pickle=False) as w:
        arrays = dict(w)
    arrays["g1.W1"][2, 0, 0] += 1.0
    np.savez(changed / "weights.npz", **arrays)
    result = invoke("verify", changed, "--format", "json")
    assert result.exit_code == 1
    assert [r["column"] for r in json.loads(result.stdout)["differences"]] == ["g1.W1[2] (1 of 16 differ)"]


def test_verify_refuses_other_data(tmp_path):
    path = tmp_path / "data.csv"
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = (frame.a + frame.b > 0).astype(int)
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    assert invoke("sweep", "--data", path, "--target", "y", "--hidden", "4", "--epochs", "5", "--seeds", "0",
                  "--out", out, "-q").exit_code == 0
    frame.loc[0, "a"] += 1
    frame.to_csv(path, index=False)
    result = invoke("verify", out)
    assert result.exit_code == 2 and "is not the data of run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_diff_of_a_run_with_itself_shows_no_change(run):
    assert invoke("diff", run, run, "--format", "csv").stdout.strip().splitlines() == [
        "what,name,lambda,model.hidden,old,new,change"]
    table = invoke("diff", run, run)
    assert table.exit_code == 0 and table.stdout == "" and "no differences" in table.stderr
    everything = pd.read_csv(io.StringIO(invoke("diff", run, run, "--all", "--format", "csv").stdout))
    assert len(everything) > 0 and (everything["change"] == 0).all()


def test_diff_shows_config_keys_and_metric_changes(run, tmp_path):
    other = tmp_path / "other"
    assert invoke("sweep", *flags(SMALL, "--lr", "0.05", drop=["--hidden"]), "--grid", "model.hidden=[4],[8]",
                  "--out", other, "-q").exit_code == 0
    table = pd.read_csv(io.StringIO(invoke("diff", run, other, "--format", "csv").stdout))
    config = table[table["what"] == "config"].set_index("name")
    assert set(config.index) == {"train.lr"} and str(config.loc["train.lr", "new"]) == "0.05"  # output.dir: --all
    metrics = table[table["what"] == "metric"]
    a, b = pd.read_csv(run / "aggregate.csv"), pd.read_csv(other / "aggregate.csv")
    row = metrics[(metrics["name"] == "test_loss_mean") & (metrics["lambda"] == 0.01)
                  & (metrics["model.hidden"] == "[8]")].iloc[0]
    pick = lambda f: f[(f["lambda"] == 0.01) & (f["model.hidden"] == "[8]")]["test_loss_mean"].iloc[0]  # noqa: E731
    assert (float(row["old"]), float(row["new"])) == (pick(a), pick(b))
    assert float(row["change"]) == pytest.approx(pick(b) - pick(a))
