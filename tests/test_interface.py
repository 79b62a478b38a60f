"""The experiment-runner interface: formats, grids, selection, cross-validation, show/best/runs/plot/gradcheck."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import flags, invoke
from scipy import stats

from l2cli.config import resolve
from l2cli.sweeps.experiment import prepare
from l2cli.sweeps.runner import run_experiment
from l2cli.sweeps.selection import select

SMALL = ["--dataset", "moons", "--set", "data.n_samples=120", "--hidden", "8", "--optimizer", "adam",
         "--lr", "0.02", "--epochs", "60", "--lambdas", "1e-4,1e-2,1", "--seeds", "0,1,2"]




@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    result = invoke("sweep", *SMALL, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "ndjson"])
def test_every_machine_format_parses_back_to_the_summary(run, fmt):
    result = invoke("show", run, "--format", fmt)
    assert result.exit_code == 0
    text = result.stdout
    if fmt == "csv":
        frame = pd.read_csv(io.StringIO(text))
    elif fmt == "tsv":
        frame = pd.read_csv(io.StringIO(text), sep="\t")
    elif fmt == "json":
        frame = pd.DataFrame(json.loads(text))
    else:
        frame = pd.DataFrame([json.loads(line) for line in text.splitlines()])
    expected = pd.read_csv(run / "summary.csv")
    assert list(frame.columns) == list(expected.columns)
    np.testing.assert_allclose(frame["test_loss"].astype(float), expected["test_loss"], rtol=1e-12)
    assert frame["selected"].astype(bool).sum() == 3  # one λ × three seeds


@pytest.mark.parametrize("fmt,first", [("table", "sel"), ("markdown", "| sel")])
def test_human_formats_mark_the_selected_rows(run, fmt, first):
    result = invoke("show", run, "--format", fmt)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(first)
    marked = [line for line in lines if line.lstrip("| ").startswith("*")]
    assert len(marked) == 3


def test_sweep_format_json_goes_to_stdout_only(tmp_path):
    result = invoke("sweep", *SMALL, "--out", tmp_path / "r", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 9 and "l2cli: wrote" in result.stderr
    quiet = invoke("sweep", *SMALL, "--out", tmp_path / "q", "--format", "csv", "-q")
    assert quiet.stderr == "" and quiet.stdout.startswith("lambda,seed")


def test_best_inside_command_substitution(run):
    selection = json.loads((run / "selection.json").read_text())
    script = f'lam=$("{sys.executable}" -m l2cli best "{run}") && echo "λ=$lam"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"λ={selection['lambda']!r}"
    assert float(proc.stdout.strip()[2:]) in (1e-4, 1e-2, 1.0)


def test_best_without_validation_data_is_an_error(tmp_path):
    out = tmp_path / "noval"
    assert invoke("sweep", *SMALL, "--set", "data.val_size=0", "--out", out, "-q").exit_code == 0
    result = invoke("best", out)
    assert result.exit_code == 2 and "no λ was selected" in result.stderr and result.stdout == ""


def test_selection_uses_validation_not_test_loss(run):
    agg = pd.read_csv(run / "aggregate.csv")
    selection = json.loads((run / "selection.json").read_text())
    assert selection["lambda"] == agg.loc[agg["val_loss_mean"].idxmin(), "lambda"]
    assert selection["source"] == "validation split"
    # with the test columns scrambled the choice is the same
    scrambled = agg.copy()
    scrambled[[c for c in agg.columns if c.startswith("test_")]] = 0.0
    assert select(scrambled, [], "min")["lambda"] == selection["lambda"]


def test_one_standard_error_rule_prefers_a_larger_lambda():
    agg = pd.DataFrame({"lambda": [0.001, 0.01, 0.1, 1.0], "n_seeds": 4,
                        "val_loss_mean": [0.50, 0.40, 0.42, 0.70], "val_loss_std": [0.1, 0.1, 0.1, 0.1]})
    assert select(agg, [], "min")["lambda"] == 0.01
    one_se = select(agg, [], "1se")
    assert one_se["lambda"] == 0.1 and one_se["val_loss_se"] == pytest.approx(0.05)


def test_aggregate_mean_std_and_t_interval(run):
    summary = pd.read_csv(run / "summary.csv")
    agg = pd.read_csv(run / "aggregate.csv")
    row = agg[agg["lambda"] == 0.01].iloc[0]
    values = summary.loc[summary["lambda"] == 0.01, "test_loss"].to_numpy()
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert row["n_seeds"] == 3
    assert row["test_loss_mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert row["test_loss_std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert row["test_loss_ci95"] == pytest.approx((high - low) / 2, rel=1e-10)
    assert {"penalty_mean", "weight_norm_ci95", "test_accuracy_std", "epochs_mean"} <= set(agg.columns)
    assert "seed_mean" not in agg.columns


def test_extra_axes_train_the_full_product(tmp_path):
    out = tmp_path / "grid"
    result = invoke("sweep", *flags(SMALL, "--lambdas", "1e-3,1", "--seeds", "0,1", drop=["--hidden"]), "--grid",
                    "model.hidden=[4],[8,8]", "--grid", "data.n_train=20,40", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 2 * 2 * 2
    assert list(summary.columns[:4]) == ["lambda", "seed", "model.hidden", "data.n_train"]
    assert set(summary["model.hidden"]) == {"[4]", "[8, 8]"} and set(summary["data.n_train"]) == {20, 40}
    assert summary.groupby(["model.hidden", "data.n_train"]).size().eq(4).all()
    cols = list(summary.columns)  # one order for every cell: the 3-layer cells' norm_W3 sits with the others
    assert cols.index("norm_W3") == cols.index("norm_W2") + 1 == cols.index("weight_norm") + 3
    assert summary.loc[summary["model.hidden"] == "[4]", "norm_W3"].isna().all()
    agg = pd.read_csv(out / "aggregate.csv")
    assert len(agg) == 8 and {"model.hidden", "data.n_train"} <= set(agg.columns)
    history = pd.read_csv(out / "history.csv")
    assert {"model.hidden", "data.n_train"} <= set(history.columns)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [g["n_train"] for g in manifest["cells"]] == [20, 40, 20, 40]
    selection = json.loads((out / "selection.json").read_text())
    assert set(selection["axes"]) == {"model.hidden", "data.n_train"}
    with np.load(out / "weights.npz", allow_pickle=False) as w:  # two architectures: keys per group
        assert w["g0.W1"].shape == (4, 2, 4) and w["g2.W2"].shape == (4, 8, 8)
        assert list(w["cell"]) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    shown = invoke("show", out)
    assert "model.hidden" in shown.stdout.splitlines()[0]


def test_grid_errors_name_the_key():
    assert "did you mean 'model.hidden'" in invoke("sweep", "--grid", "model.hiden=[4]").stderr
    assert "cannot be a sweep axis" in invoke("sweep", "--grid", "sweep.seeds=1,2").stderr
    assert invoke("sweep", "--grid", "train.lr=0.1,-1").exit_code == 2


def test_cross_validation_never_reads_the_test_data(tmp_path):
    flags = {"data.dataset": "moons", "data.n_samples": 120, "data.val_size": 0.0, "model.hidden": [8],
             "train.optimizer": "adam", "train.lr": 0.02, "train.epochs": 40, "sweep.cv": 3,
             "sweep.lambdas": "1e-4,1e-2,1", "sweep.seeds": [0, 1]}
    clean = run_experiment(resolve(flags=flags))
    # poison the test rows: if cross-validation read them, its numbers would change or turn NaN
    import l2cli.sweeps.cells as runner  # where the grid cells are prepared
    original = runner.prepare

    def poisoned(cfg, *args):
        exp = original(cfg, *args)
        exp.split.X_test[:] = np.nan
        exp.split.Y_test[:] = np.nan
        return exp

    runner.prepare = poisoned
    try:
        dirty = run_experiment(resolve(flags=flags))
    finally:
        runner.prepare = original
    pd.testing.assert_frame_equal(clean.cv, dirty.cv)
    assert dirty.selection == clean.selection and clean.selection["lambda"] is not None
    assert "cross-validation" in clean.selection["source"]
    assert dirty.summary["test_loss"].isna().all() and np.isfinite(dirty.summary["val_loss"]).all()
    assert len(clean.cv) == 3 * 3 * 2 and set(clean.cv["fold"]) == {0, 1, 2}
    # the summary's val_loss is the mean over folds
    mean = clean.cv.groupby(["lambda", "seed"])["val_loss"].mean()
    np.testing.assert_allclose(clean.summary.set_index(["lambda", "seed"])["val_loss"], mean, rtol=1e-12)


def test_cv_folds_partition_the_training_rows_only():
    from l2cli.data.builtin import cv_folds

    exp = prepare(resolve(flags={"data.n_samples": 120}))
    folds = cv_folds(exp.split, 4, seed=0)
    val_rows = np.concatenate([f.y_val for f in folds])
    assert len(val_rows) == len(exp.split.y_train)
    assert all(f.X_test is None and len(f.y_train) + len(f.y_val) == len(exp.split.y_train) for f in folds)


def test_cv_writes_cv_csv_and_rejects_a_validation_split(tmp_path):
    out = tmp_path / "cv"
    result = invoke("sweep", *SMALL, "--set", "data.val_size=0", "--cv", 3, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    cv = pd.read_csv(out / "cv.csv")
    assert list(cv.columns[:3]) == ["lambda", "seed", "fold"] and len(cv) == 3 * 3 * 3
    both = invoke("sweep", *SMALL, "--cv", 3, "--set", "data.val_size=0.2", "--out", tmp_path / "x")
    assert both.exit_code == 2 and "choose one way to select λ" in both.stderr
    alone = invoke("sweep", *SMALL, "--cv", 3, "--out", tmp_path / "cv-alone")
    assert alone.exit_code == 0, alone.output
    assert "3-fold cross-validation selects λ: no separate validation split" in alone.stderr.splitlines()[0]
    manifest = json.loads((tmp_path / "cv-alone" / "manifest.json").read_text())
    assert manifest["config"]["data"]["val_size"] == 0.0 and manifest["data"]["n_val"] == 0


def test_show_history_and_aggregate(run):
    history = invoke("show", run, "--history", "--format", "csv")
    frame = pd.read_csv(io.StringIO(history.stdout))
    assert {"epoch", "train_loss", "test_loss"} <= set(frame.columns) and len(frame) > 9
    agg = invoke("show", run, "--aggregate")
    assert agg.stdout.splitlines()[0].split()[:3] == ["sel", "lambda", "n_seeds"]
    assert invoke("show", run.parent / "missing").exit_code == 2


def test_runs_lists_past_runs(run):
    result = invoke("runs", run.parent, "--format", "csv")
    assert result.exit_code == 0
    frame = pd.read_csv(io.StringIO(result.stdout))
    row = frame[frame["run"] == "small"].iloc[0]
    assert row["dataset"] == "moons" and row["lambdas"] == 3 and row["seeds"] == 3 and row["models"] == 9
    assert row["selected_lambda"] == json.loads((run / "selection.json").read_text())["lambda"]


@pytest.mark.slow  # 2 s: the default suite stays under 60 s
def test_plot_writes_a_valid_png(run, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.png"
    result = invoke("plot", run, "-o", path)
    assert result.exit_code == 0, result.output
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1000 and height > 300
    import matplotlib.image

    assert matplotlib.image.imread(path).shape[:2] == (height, width)


def test_plot_without_matplotlib_says_how_to_get_it(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "l2cli.plot.figure", raising=False)
    result = invoke("plot", run)
    assert result.exit_code == 2
    assert "pip install 'l2cli[plot]'" in result.stderr


def test_gradcheck_passes_and_fails_by_threshold():
    ok = invoke("gradcheck", "--hidden", "6,5", "--activation", "tanh", "--format", "csv")
    assert ok.exit_code == 0, ok.output
    report = pd.read_csv(io.StringIO(ok.stdout))
    assert list(report["layer"]) == [1, 1, 2, 2, 3, 3] and (report["rel_error"] < 1e-6).all()
    assert "passed" in ok.stderr
    strict = invoke("gradcheck", "--hidden", "6,5", "--activation", "tanh", "--threshold", "1e-30")
    assert strict.exit_code == 1 and "FAILED" in strict.stderr


def test_precedence_through_the_command_line(tmp_path):
    config = tmp_path / "exp.toml"
    config.write_text('[train]\nepochs = 7\nlr = 0.5\n[sweep]\nlambdas = "0,1"\nseeds = [0]\n')
    out = tmp_path / "r"
    result = invoke("sweep", config, "--set", "train.lr=0.25", "--set", "train.epochs=9", "--epochs", 3,
                    "--out", out, "-q")
    assert result.exit_code == 0, result.output
    cfg = json.loads((out / "manifest.json").read_text())["config"]
    assert (cfg["train"]["epochs"], cfg["train"]["lr"], cfg["sweep"]["lambdas"]) == (3, 0.25, [0.0, 1.0])


def test_version_help_and_completion():
    assert invoke("--version").stdout.startswith("l2cli, version")
    assert "logspace(-6,0,13)" in invoke("sweep", "--help").stdout
    env = {"_L2CLI_COMPLETE": "bash_source"}
    proc = subprocess.run([sys.executable, "-c", "from l2cli.cli import main; main()"],
                          capture_output=True, text=True, env={**__import__("os").environ, **env})
    assert proc.returncode == 0 and "complete -o nosort -F" in proc.stdout


def _run_with_stderr(tty: bool, tmp_path, name):
    """Run the real command with stderr on a pseudo-terminal (tty=True) or a pipe."""
    import os

    args = [sys.executable, "-m", "l2cli", "sweep", *SMALL, "--out", str(tmp_path / name)]
    if not tty:
        proc = subprocess.run(args, capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = os.openpty()
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.returncode, proc.stdout, b"".join(chunks).decode()


@pytest.mark.slow  # 4 s: the default suite stays under 60 s
def test_progress_bar_only_when_stderr_is_a_terminal(tmp_path):
    code, out, err = _run_with_stderr(True, tmp_path, "tty")
    assert code == 0 and "training" in err and "%" in err
    description = next(line for line in err.splitlines() if "models (" in line)
    assert description.startswith("l2cli: ") and "training" not in description  # the bar has a line of its own
    assert "training" not in out and "lambda" in out.splitlines()[0]
    code, out, err = _run_with_stderr(False, tmp_path, "pipe")
    assert code == 0 and "training" not in err and "%" not in err


def test_a_diverged_lambda_is_never_selected_and_best_then_exits_1():
    agg = pd.DataFrame({"lambda": [0.0, 0.1, 1.0], "n_seeds": 2, "n_diverged": [1, 0, 0],
                        "val_loss_mean": [0.1, 0.3, 0.5], "val_loss_std": [0.01, 0.01, 0.01]})
    assert select(agg, [], "min")["lambda"] == 0.1  # 0.0 has the lowest mean, but one of its models diverged
    agg["n_diverged"] = 1
    none = select(agg, [], "min")
    assert none["lambda"] is None and none["reason_code"] == "no_finite_candidate"


def test_best_exits_1_when_every_lambda_diverged(tmp_path):
    out = tmp_path / "diverged"
    result = invoke("sweep", "--dataset", "regression", "--hidden", "8", "--optimizer", "sgd", "--lr", "10",
                    "--epochs", "20", "--lambdas", "0,1e-3", "--seeds", "0", "--out", out)
    assert result.exit_code == 1 and "no λ selected" in result.stderr
    best = invoke("best", out)
    assert best.exit_code == 1 and best.stdout == "" and "no λ was selected" in best.stderr


def test_a_lambda_at_the_edge_of_the_grid_is_said(tmp_path):
    out = tmp_path / "edge"
    result = invoke("sweep", *flags(SMALL, "--lambdas", "1e-6,1e-5"), "--out", out)  # both tiny: the largest wins
    assert result.exit_code == 0, result.output
    selection = json.loads((out / "selection.json").read_text())
    assert selection["at_edge"] is True and selection["lambda"] == 1e-5
    assert "is the largest of the grid" in result.stderr.splitlines()[-1] and "above 1e-05" in result.stderr


def test_grid_runs_name_the_selected_cell(tmp_path):
    out = tmp_path / "cells"
    result = invoke("sweep", *flags(SMALL, "--lambdas", "1e-3,1e-2,1", "--seeds", "0,1", drop=["--hidden"]),
                    "--grid", "model.hidden=[4],[8,8]", "--out", out)
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert "2-4-2, 2-8-8-2 relu" in first
    selection = json.loads((out / "selection.json").read_text())
    cell = selection["axes"]["model.hidden"]
    assert f"in model.hidden={cell}" in result.stderr.splitlines()[-1]
    lines = invoke("best", out, "--all").stdout.splitlines()
    assert lines == [f"lambda={selection['lambda']!r}", f"model.hidden={cell}"]


def test_seed_errors_give_a_seed_example():
    result = invoke("sweep", "--seeds", "0-4")
    assert result.exit_code == 2 and "such as 0,1,2" in result.stderr and "64,64" not in result.stderr


def test_gradcheck_help_lists_only_what_it_reads():
    text = invoke("gradcheck", "--help").stdout
    for present in ("--hidden", "--activation", "--data", "--rows", "--threshold", "--lambda"):
        assert present in text
    for absent in ("--optimizer", "--lr", "--epochs", "--batch-size", "--dtype"):
        assert absent not in text
