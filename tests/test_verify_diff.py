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


def scaled_aggregate(run, tmp_path, name, factor, where=None):
    """A copy of ``run`` whose aggregate test_loss_mean is multiplied by ``factor`` (at λ ``where``, or all)."""
    import shutil

    out = tmp_path / name
    shutil.copytree(run, out)
    agg = pd.read_csv(out / "aggregate.csv")
    rows = agg.index if where is None else agg["lambda"] == where
    agg.loc[rows, "test_loss_mean"] *= factor
    agg.to_csv(out / "aggregate.csv", index=False)
    return out


def test_diff_ignores_last_bits_unless_exact(run, tmp_path):
    noisy = scaled_aggregate(run, tmp_path, "noisy", 1 + 1e-12)
    quiet = invoke("diff", run, noisy)
    assert quiet.exit_code == 0 and quiet.stdout == "" and "no differences beyond the numbers level" in quiet.stderr
    exact = pd.read_csv(io.StringIO(invoke("diff", run, noisy, "--exact", "--format", "csv").stdout))
    assert set(exact["name"]) == {"test_loss_mean"} and len(exact) == len(pd.read_csv(run / "aggregate.csv"))


@pytest.mark.parametrize("factor,code", [(1.05, 1), (1.001, 0)])
def test_diff_fail_on_is_a_gate_for_ci(run, tmp_path, factor, code):
    moved = scaled_aggregate(run, tmp_path, "moved", factor, where=0.01)
    result = invoke("diff", run, moved, "--fail-on", "test_loss=0.01", "--format", "csv")
    assert result.exit_code == code, result.output
    if code:
        crossed = pd.read_csv(io.StringIO(result.stdout))
        assert set(crossed["lambda"]) == {0.01} and set(crossed["name"]) == {"test_loss_mean"}
        assert len(crossed) == 2  # the two grid cells at λ = 0.01, and nothing that did not cross
        assert "2 change(s) crossed --fail-on (test_loss=0.01)" in result.stderr
    else:
        assert result.stdout == "" and "no change crossed --fail-on" in result.stderr
    absolute = invoke("diff", run, moved, "--fail-on", f"test_loss=abs:{1e-9 if code else 1.0}")
    assert absolute.exit_code == code
    assert invoke("diff", run, moved, "--fail-on", "selected_lambda").exit_code == 0
    bad = invoke("diff", run, moved, "--fail-on", "test_los=0.1")
    assert bad.exit_code == 2 and "did you mean 'test_loss'" in bad.stderr


def test_diff_markdown_shortens_long_values(run, tmp_path):
    import json

    other = copy_of(run, tmp_path)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["environment"]["variables"]["NPY_DISABLE_CPU_FEATURES"] = " ".join(["AVX512F"] * 30)
    (other / "manifest.json").write_text(json.dumps(manifest))
    table = invoke("diff", run, other, "--all", "--format", "markdown").stdout
    cells = [cell.strip() for line in table.splitlines() if not line.startswith("|-") for cell in line.split("|")]
    assert "variables.NPY_DISABLE_CPU_FEATURES" in cells and max(map(len, cells)) <= 40


def test_verify_summarizes_what_differs_and_all_lists_it(run, tmp_path):
    import shutil

    other = tmp_path / "changed"
    shutil.copytree(run, other)
    history = pd.read_csv(other / "history.csv")
    history["train_loss"] *= 1 + 1e-9
    history.to_csv(other / "history.csv", index=False)
    result = invoke("verify", other)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[2].split()[:3] == ["history.csv", "train_loss", str(len(history))]
    assert "λ 0.0001 seed 0 epoch 0" in lines[2] and "nan" not in result.stdout
    everything = invoke("verify", other, "--all")
    assert len(everything.stdout.splitlines()) == len(history) + 2 and " 0.0001 " in everything.stdout
    assert "1.0000000000000001e-04" not in everything.stdout
