"""The warm-started path (sweep.path = warm, l2cli.training.warm) and the memory a sweep takes."""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import invoke

from l2cli.api import sweep as api_sweep
from l2cli.cli import cli
from l2cli.config import resolve
from l2cli.sweeps.engine import run_points
from l2cli.sweeps.experiment import prepare
from l2cli.sweeps.layout import Compute, choose
from l2cli.training.plan import points
from l2cli.training.warm import path_chunks

BASE = {"data.dataset": "moons", "data.n_samples": 160, "model.hidden": [8], "sweep.lambdas": [1e-2, 1e-4, 1.0, 1e-3],
        "sweep.seeds": [0, 1, 2], "sweep.path": "warm", "sweep.workers": 1}
OPTIMIZERS = {
    "lbfgs": {"train.optimizer": "lbfgs", "train.max_iter": 60},
    "sgd+tol": {"train.optimizer": "sgd", "train.batch_size": 16, "train.lr": 0.1, "train.epochs": 60,
                "train.tol": 1e-4},
    "adam+early_stopping": {"train.optimizer": "adam", "train.batch_size": 32, "train.lr": 0.02, "train.epochs": 60,
                            "train.early_stopping": True, "train.patience": 3, "data.val_size": 0.25},
}


def run(how: dict | None = None, **flags):
    cfg = resolve(flags={**BASE, **flags})
    exp = prepare(cfg)
    return run_points(exp, points(cfg.sweep.lambdas, cfg.sweep.seeds), Compute(**(how or {"workers": 1})))


def same(a, b) -> None:
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
    for x, y in zip(a.params.arrays(), b.params.arrays(), strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_first_model_of_each_path_is_the_cold_model_bit_for_bit(optimizer):
    warm, cold = run(**OPTIMIZERS[optimizer]), run(**OPTIMIZERS[optimizer], **{"sweep.path": "cold"})
    assert "start" not in cold.summary and list(cold.summary["lambda"]) == list(warm.summary["lambda"])
    first = warm.summary["lambda"] == min(BASE["sweep.lambdas"])
    assert (warm.summary.loc[first, "start"] == "cold").all() and (warm.summary.loc[~first, "start"] == "warm").all()
    pd.testing.assert_frame_equal(warm.summary[first].drop(columns="start"), cold.summary[first], check_exact=True)
    for w, c in zip(warm.params.arrays(), cold.params.arrays(), strict=True):
        assert np.array_equal(w[first.to_numpy()], c[first.to_numpy()])
        assert not np.array_equal(w[~first.to_numpy()], c[~first.to_numpy()])  # the others started elsewhere


def test_each_model_starts_where_the_previous_lambda_ended():
    """A warm model's iteration 0 is its predecessor's end: the same training loss, the objective at its own λ."""
    trained = run(**OPTIMIZERS["lbfgs"])
    s, h = trained.summary, trained.history
    for seed in BASE["sweep.seeds"]:
        lams = sorted(BASE["sweep.lambdas"])
        for before, lam in zip(lams, lams[1:], strict=False):
            end = s[(s["seed"] == seed) & (s["lambda"] == before)].iloc[0]
            start = h[(h["seed"] == seed) & (h["lambda"] == lam) & (h["epoch"] == 0)].iloc[0]
            assert start["train_loss"] == end["train_loss"] and start["penalty"] == end["penalty"]
            assert start["objective"] == pytest.approx(end["train_loss"] + lam * end["penalty"], rel=1e-12)


@pytest.mark.slow  # ~1.2–2.2 s each
@pytest.mark.parametrize("optimizer", ["lbfgs", "sgd+tol"])
def test_a_warm_path_is_the_same_stacked_sequentially_and_in_worker_processes(optimizer):
    n = len(BASE["sweep.lambdas"])
    stacked = run({"workers": 1, "chunk_size": 3 * n}, **OPTIMIZERS[optimizer])
    assert stacked.layout.chunk_size == 3 * n  # the three paths in one chunk
    same(run({"workers": 1}, **OPTIMIZERS[optimizer]), stacked)  # the layout's own choice
    same(run({"workers": 1, "engine": "sequential"}, **OPTIMIZERS[optimizer]), stacked)
    same(run({"workers": 2, "chunk_size": n}, **OPTIMIZERS[optimizer]), stacked)
    same(run({"workers": 1, "chunk_size": 2 * n + 1}, **OPTIMIZERS[optimizer]), stacked)  # two paths, then one


def test_chunks_of_a_warm_sweep_hold_whole_paths_and_no_more_workers_than_paths():
    cfg = resolve(flags={**BASE, **OPTIMIZERS["sgd+tol"], "sweep.seeds": [0, 1, 2, 3, 4]})
    exp = prepare(cfg)
    pts = points(cfg.sweep.lambdas, cfg.sweep.seeds)
    for asked, size in ((Compute(chunk_size=9), 8), (Compute(chunk_size=1), 4), (Compute(engine="sequential"), 4)):
        layout = choose(exp, len(pts), asked, cores=2, path_length=4)
        assert layout.chunk_size == size
        assert all(len({p.seed for p in c}) * 4 == len(c) for c in path_chunks(pts, layout.chunk_size))
    many = choose(exp, len(pts), Compute(workers=16), cores=64, path_length=4)
    assert many.workers == 5 and many.chunk_size == 4 and many.threads == 64 // 5


def test_a_warm_path_is_refused_where_training_does_not_stop_by_itself():
    result = CliRunner().invoke(cli, ["sweep", "--optimizer", "sgd", "--path", "warm", "--epochs", "3"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sweep.path = warm" in lines[0] and "train.tol" in lines[0], result.stderr


def test_the_library_and_the_summary_name_how_each_model_started(tmp_path):
    keys = {k.split(".")[1]: v for k, v in {**BASE, **OPTIMIZERS["lbfgs"]}.items() if k != "sweep.workers"}
    run_ = api_sweep(out=tmp_path / "run", **keys)
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert list(summary.columns[:5]) == ["lambda", "seed", "status", "epochs", "start"]
    assert set(summary["start"]) == {"cold", "warm"} and run_.summary["start"].tolist() == summary["start"].tolist()


@pytest.mark.slow  # 4 s: the default suite stays under 60 s
def test_a_warm_path_with_folds_and_a_grid_verifies(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "moons", "--optimizer", "lbfgs", "--set", "train.max_iter=30", "--lambdas",
                    "logspace(-4,0,3)", "--seeds", "0,1", "--path", "warm", "--cv", "3", "--grid",
                    "model.hidden=[4],[6]", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    for table in ("summary", "cv"):
        frame = pd.read_csv(out / f"{table}.csv")
        first = frame["lambda"] == 1e-4
        assert (frame.loc[first, "start"] == "cold").all() and (frame.loc[~first, "start"] == "warm").all(), table
    assert len(pd.read_csv(out / "cv.csv")) == 3 * 2 * 2 * 3  # λ × seeds × cells × folds
    verified = invoke("verify", out)
    assert verified.exit_code == 0 and "level exact holds" in verified.stderr, verified.output


def test_a_start_column_l2cli_never_writes_is_refused(tmp_path):
    out = tmp_path / "run"
    keys = {k.split(".")[1]: v for k, v in {**BASE, **OPTIMIZERS["lbfgs"]}.items() if k != "sweep.workers"}
    api_sweep(out=out, **{**keys, "max_iter": 5})
    assert invoke("show", out).exit_code == 0
    frame = pd.read_csv(out / "summary.csv")
    frame.loc[2, "start"] = "=HYPERLINK(1)"
    frame.to_csv(out / "summary.csv", index=False)
    result = invoke("show", out)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "column start holds 1 value(s) l2cli never writes" in lines[0]


# ---- kill and resume in the middle of a path (slow: subprocesses) ------------------------------------

SWEEP = ["--dataset", "moons", "--hidden", "16", "--lambdas", "logspace(-4,0,6)", "--seeds", "0,1,2", "--path", "warm",
         "--set", "sweep.checkpoint_s=0", "--set", "sweep.workers=2", "--set", "sweep.chunk_size=6", "-q"]
RESUMABLE = {"lbfgs": ["--optimizer", "lbfgs", "--set", "train.max_iter=300"],
             "sgd+tol": ["--optimizer", "sgd", "--batch-size", "16", "--lr", "0.05", "--epochs", "300",
                         "--set", "train.tol=1e-5"]}


def cli_sweep(out: Path, optimizer: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l2cli", "sweep", *SWEEP, *RESUMABLE[optimizer], "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def same_run_files(a: Path, b: Path) -> None:
    for name in ("summary.csv", "history.csv", "aggregate.csv", "features.csv", "selection.json", "weights.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    docs = [json.loads((d / "manifest.json").read_text()) for d in (a, b)]
    for doc in docs:
        for key in ("started", "finished", "seconds", "memory", "resumed", "command"):
            doc.pop(key)
        doc["config"]["output"].pop("dir")
    assert docs[0] == docs[1]


#: where to kill: a checkpoint between two models of a path (lbfgs writes one after each model: 5 a path), one
#: inside a model's epochs (sgd writes one after each epoch), and a finished chunk's file
FAULTS = [("lbfgs", "checkpoint-write:3"), ("lbfgs", "checkpoint-write:7"), ("lbfgs", "chunk-write:1"),
          ("sgd+tol", "checkpoint-write:3"), ("sgd+tol", "checkpoint-write:40"), ("sgd+tol", "chunk-write:1")]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer,fault", FAULTS)
def test_killed_mid_path_then_resumed_gives_the_uninterrupted_files(tmp_path, optimizer, fault):
    reference = tmp_path / "reference"
    assert cli_sweep(reference, optimizer).returncode == 0
    out = tmp_path / "run"
    killed = cli_sweep(out, optimizer, env={"L2CLI_FAULT": fault})
    # SIGKILL in the main process, or exit 1 when it is a worker that is killed (the sweep stops, work kept)
    assert killed.returncode in (-signal.SIGKILL, 1) and (out / ".progress" / "plan.json").exists(), killed.stderr
    time.sleep(0.3)  # the forked worker notices its parent is gone
    resumed = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--resume", "--out", str(out), "-q"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    same_run_files(out, reference)


# ---- memory ------------------------------------------------------------------------------------------

def test_an_epoch_gathers_batches_without_copying_the_training_matrix(monkeypatch):
    import l2cli.training.train as train_module
    from l2cli.training.train import Batches

    X, Y = np.random.default_rng(0).standard_normal((20_000, 50)), np.zeros((20_000, 2))
    batches = Batches(X, Y, [0, 1, 2], 32)
    tracemalloc.start()
    for Xb, _ in batches.epoch(np.array([0, 1, 2])):
        assert Xb.shape == (3, 32, 50) or Xb.shape[1] == 20_000 % 32
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < X.nbytes / 4, peak  # the permutations and a batch (1 MB), not a permuted copy (24 MB stacked)
    monkeypatch.setattr(train_module, "EPOCH_GATHER_BYTES", 0)  # two seeds' epoch would be small enough to copy
    for _ in batches.epoch(np.array([0, 2])):  # a model stopped: buffers for two models, the three's are gone
        pass
    assert {shape[:-1] for shape in batches.buffers} == {(2,)}


@pytest.mark.parametrize("seeds", [[0], [0, 1, 2]])
def test_batches_gathered_one_by_one_train_the_bits_of_an_epochs_gather(monkeypatch, seeds):
    import l2cli.training.train as train

    flags = {**OPTIMIZERS["sgd+tol"], "sweep.path": "cold", "train.tol": 0.0, "train.epochs": 5, "sweep.seeds": seeds}
    at_once = run(**flags)
    monkeypatch.setattr(train, "EPOCH_GATHER_BYTES", 0)
    same(run(**flags), at_once)


def test_models_measured_in_groups_give_the_numbers_of_one_stack(monkeypatch):
    from conftest import make_params

    import l2cli.maths.evaluate as ev

    cfg = resolve(flags={"data.dataset": "iris", "model.hidden": [8]})
    exp = prepare(cfg)
    params = make_params(exp.layer_sizes, seeds=range(7))
    lam = np.linspace(0, 1, 7)
    whole = ev.evaluate(params, lam, exp.split.parts(), exp.spec, scorer=exp.scorer)
    monkeypatch.setattr(ev, "EVAL_OUTPUT_ELEMENTS", 3 * len(exp.split.X_train))  # groups of one model
    grouped = ev.evaluate(params, lam, exp.split.parts(), exp.spec, scorer=exp.scorer)
    assert whole.keys() == grouped.keys()
    for k in whole:
        assert np.array_equal(whole[k], grouped[k], equal_nan=True), k


def write_table(path: Path, rows: int, columns: int) -> int:
    X = np.random.default_rng(0).standard_normal((rows, columns))
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(columns)]).assign(y=(X[:, 0] > 0).astype(int))
    frame.to_csv(path, index=False)
    return X.nbytes


@pytest.mark.slow  # 7 s under tracemalloc: the default suite stays under 60 s
def test_a_sweep_keeps_one_float_copy_of_its_table_and_drops_the_raw_rows(tmp_path):
    data = write_table(tmp_path / "t.csv", 40_000, 50)
    cfg = resolve(flags={"data.path": str(tmp_path / "t.csv"), "data.target": "y", "model.hidden": [8]})
    tracemalloc.start()
    exp = prepare(cfg, keep_raw=False)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert exp.split.raw_train is None
    # measured: 1.0× held, 2.05× at the peak (the table and its parts' raw rows); before, 4× at the peak
    assert held < 1.15 * data and peak < 2.3 * data, (held / data, peak / data)
    kept = prepare(cfg)
    assert kept.split.raw_train is not None and kept.split.fingerprint() == exp.split.fingerprint()


def test_the_manifest_records_the_measured_peak(tmp_path):
    api_sweep(out=tmp_path / "run", dataset="moons", hidden=[4], epochs=3, lambdas=[0.1], seeds=[0])
    memory = json.loads((tmp_path / "run" / "manifest.json").read_text())["memory"]
    assert set(memory) == {"peak_rss_mib", "largest_worker_peak_rss_mib", "data_mib"}
    assert 10 < memory["peak_rss_mib"] < 100_000 and 0 <= memory["data_mib"] < 1


def test_grid_cells_with_the_same_data_share_one_copy_of_it():
    from l2cli.sweeps.cells import prepare_cells

    by_model = prepare_cells(resolve(flags={"data.dataset": "moons"}, grid=["model.hidden=[4],[8]"]))
    assert by_model[0].layer_sizes != by_model[1].layer_sizes
    first, second = by_model[0].split, by_model[1].split
    assert np.shares_memory(first.X_train, second.X_train) and np.shares_memory(first.X_test, second.X_test)
    by_data = prepare_cells(resolve(flags={"data.dataset": "moons"}, grid=["data.n_train=20,40"]))
    assert len(by_data[0].split.X_train) == 20 and len(by_data[1].split.X_train) == 40


def test_cross_validation_makes_each_fold_when_it_is_asked_for():
    from l2cli.data.builtin import Folds, cv_folds

    exp = prepare(resolve(flags={"data.dataset": "iris", "data.val_size": 0.0}))
    folds = cv_folds(exp.split, 3, seed=0)
    assert isinstance(folds, Folds) and len(folds) == 3 and len(list(folds)) == 3
    again = folds[1]
    assert np.array_equal(folds[1].X_train, again.X_train) and folds[1].X_train is not again.X_train
    assert sum(len(f.X_val) for f in folds) == len(exp.split.X_train)


def test_a_model_after_a_diverged_one_starts_cold():
    from conftest import make_params

    from l2cli.training.warm import PathRun

    init = make_params((2, 3, 2), seeds=range(4))
    run = PathRun(init)
    for a in run.final.arrays():
        a += 1.0  # every model has ended somewhere else than its initialisation
    run.status[0], run.final.W[0][1, 0, 0] = "diverged", np.nan  # model 0 diverged; model 1's θ is not finite
    start, warm = run.start(init, np.array([0, 1, 2]), np.array([1, 2, 3]))
    assert warm.tolist() == [False, False, True]
    for got, first, kept in zip(start.arrays(), init.arrays(), run.final.arrays(), strict=True):
        assert np.array_equal(got[:2], first[1:3]) and np.array_equal(got[2], kept[2])
