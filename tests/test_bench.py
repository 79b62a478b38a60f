"""The benchmark script still runs (a smoke run with few epochs; its numbers mean nothing)."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_run(script: str, *args: str) -> None:
    """Run a benchmark script's smoke run from the project root; it must succeed."""
    proc = subprocess.run([sys.executable, script, "--quick", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_bench_quick_run_writes_its_tables():
    quick_run("bench/run.py", "--skip-scaling")
    speed = pd.read_csv(ROOT / "bench/results/speed-quick.csv")
    assert set(speed["workload"]) == {"W1", "W2"} and set(speed["dtype"]) == {"float64", "float32"}
    assert (speed["speedup_vs_sklearn"] > 0).all() and (speed["fraction_of_peak"] > 0).all()
    accuracy = pd.read_csv(ROOT / "bench/results/accuracy-quick.csv")
    assert len(accuracy) == 3 * 16  # W1 with both heads, W2 (ten classes) with the softmax head
    assert set(accuracy.loc[accuracy["workload"] == "W1", "head"]) == {"softmax", "logistic"}
    step = pd.read_csv(ROOT / "bench/results/step-quick.csv")
    assert (step["products_us"] > 0).all() and (step["products_us"] < step["step_us"]).all()


@pytest.mark.slow
def test_cluster_bench_quick_run_writes_its_table():
    pytest.importorskip("distributed")
    quick_run("bench/cluster.py")
    table = pd.read_csv(ROOT / "bench/results/dask-quick.csv")
    assert len(table) == 3 and table["same_numbers_as_local"].dropna().astype(bool).all()
    assert (table["overhead_ms_per_chunk"] > 0).all()


@pytest.mark.slow
def test_estimator_bench_quick_run_writes_its_table():
    quick_run("bench/estimators.py")
    table = pd.read_csv(ROOT / "bench/results/estimators-quick.csv")
    assert len(table) == 4 and set(table["workload"]) == {"W1", "W2"} and set(table["n_jobs"]) == {1, 2}
    assert (table["speedup"] > 0).all() and table["l2cli_test_accuracy"].between(0, 1).all()


@pytest.mark.slow
def test_lbfgs_bench_quick_run_writes_its_table():
    quick_run("bench/lbfgs.py")
    table = pd.read_csv(ROOT / "bench/results/lbfgs-quick.csv")
    assert len(table) == 16 and (table["l2cli_iterations"] <= 5).all() and (table["speedup"] > 0).all()


@pytest.mark.slow
def test_side_by_side_bench_quick_run_writes_its_table():
    quick_run("bench/side_by_side.py")
    table = pd.read_csv(ROOT / "bench/results/side_by_side-quick.csv")
    assert len(table) == 4 and (table["median_s"] > 0).all() and table["sweeps"].tolist() == [1, 1, 2, 2]


@pytest.mark.slow
def test_memory_bench_quick_run_writes_its_table():
    quick_run("bench/memory.py")
    table = pd.read_csv(ROOT / "bench/results/memory-quick.csv")
    assert table["table"].tolist() == ["baseline", "200k"] and (table["peak_pss_mib"] > 0).all()
    assert table["manifest_peak_rss_mib"].notna().all() and table.loc[1, "ratio"] > 0


@pytest.mark.slow
def test_path_bench_quick_run_writes_its_tables():
    quick_run("bench/path.py")
    table = pd.read_csv(ROOT / "bench/results/path-quick.csv")
    assert len(table) == 6 and set(table["side"]) == {"l2cli cold", "l2cli warm", "sklearn cold", "sklearn warm"}
    assert (table["iterations"] <= 16 * 20).all() and (table["speedup_vs_sklearn_cold_1core"] > 0).all()
    per_lambda = pd.read_csv(ROOT / "bench/results/path_lambdas-quick.csv")
    assert len(per_lambda) == 6 * 16 and per_lambda["test_accuracy"].between(0, 1).all()


@pytest.mark.slow
def test_report_bench_quick_run_writes_its_table():
    quick_run("bench/report.py")
    table = pd.read_csv(ROOT / "bench/results/report-quick.csv")
    assert len(table) == 1 and table["same_bytes_every_round"].all()
    assert (table["html_bytes"] > 10_000).all() and (table["markdown_bytes"] < 65_536).all()
