"""The threads executor, added as one module of l2cli/executors/ with its name and its branch there: the same
files as the local executor, bit for bit, whatever the chunks and threads."""

import pytest
from conftest import invoke

SWEEP = ["--dataset", "wine", "--hidden", "8", "--epochs", "30", "--batch-size", "16", "--optimizer", "momentum",
         "--lambdas", "1e-4,1e-3,1e-2,1e-1", "--seeds", "0,1,2", "--set", "sweep.chunk_size=2", "--set",
         "sweep.curvature=off", "-q"]
FILES = ("summary.csv", "history.csv", "aggregate.csv", "selection.json", "weights.npz")


@pytest.mark.slow  # about 0.8 s; the default suite stays under 60 s
def test_chunks_in_threads_give_the_local_executors_bits(tmp_path):
    local, threads = tmp_path / "local", tmp_path / "threads"
    assert invoke("sweep", *SWEEP, "--set", "sweep.workers=1", "--out", local).exit_code == 0
    result = invoke("sweep", *SWEEP, "--executor", "threads", "--set", "sweep.workers=2", "--out", threads)
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert (local / name).read_bytes() == (threads / name).read_bytes(), name
    assert '"executor": "threads"' in (threads / "manifest.json").read_text()


@pytest.mark.slow  # about 0.6 s; the default suite stays under 60 s
def test_the_threads_executor_runs_lbfgs_and_a_warm_path(tmp_path):
    args = ["--dataset", "wine", "--hidden", "4", "--optimizer", "lbfgs", "--path", "warm", "--lambdas",
            "1e-3,1e-2,1e-1", "--seeds", "0,1", "--set", "train.max_iter=40", "--set", "sweep.curvature=off", "-q"]
    assert invoke("sweep", *args, "--out", tmp_path / "a").exit_code == 0
    assert invoke("sweep", *args, "--executor", "threads", "--set", "sweep.workers=2", "--out",
                  tmp_path / "b").exit_code == 0
    assert (tmp_path / "a" / "summary.csv").read_bytes() == (tmp_path / "b" / "summary.csv").read_bytes()
