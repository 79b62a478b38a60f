"""The same sweep on a Dask cluster: the same numbers as the local executor, whatever happens to the workers."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import flags

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

from distributed import Client, LocalCluster  # noqa: E402

SWEEP = ["--hidden", "32,32", "--epochs", "600", "--lambdas", "logspace(-4,0,6)", "--seeds", "0,1,2",
         "--set", "sweep.checkpoint_s=0.3", "--set", "sweep.chunk_size=3"]
FILES = ("summary.csv", "history.csv", "aggregate.csv", "features.csv", "selection.json", "weights.npz")


def sweep(out: Path, *extra, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l2cli", "sweep", *flags(SWEEP, *extra), "--out", str(out), "-q"],
                          capture_output=True, text=True, timeout=600, **kw)


def same_files(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    assert sweep(out).returncode == 0
    return out


@pytest.fixture
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_a_local_cluster_gives_the_local_numbers(tmp_path, local, cluster):
    out = tmp_path / "dask"
    result = sweep(out, "--executor", "dask", "--address", cluster.scheduler_address)
    assert result.returncode == 0, result.stderr
    same_files(out, local)
    compute = json.loads((out / "manifest.json").read_text())["compute"]
    assert (compute["executor"], compute["workers"]) == ("dask", 2)


def test_a_decoupled_sweep_on_a_cluster_gives_the_local_numbers(tmp_path, cluster):
    decoupled = ["--decay", "decoupled", "--epochs", "200"]
    assert sweep(tmp_path / "local", *decoupled).returncode == 0
    out = tmp_path / "dask"
    result = sweep(out, *decoupled, "--executor", "dask", "--address", cluster.scheduler_address)
    assert result.returncode == 0, result.stderr
    same_files(out, tmp_path / "local")
    assert json.loads((out / "manifest.json").read_text())["config"]["train"]["decay"] == "decoupled"


def test_a_worker_killed_mid_sweep_changes_nothing(tmp_path, cluster):
    longer = ["--epochs", "3000"]
    assert sweep(tmp_path / "local", *longer).returncode == 0
    out = tmp_path / "dask"
    # stderr to a file, not a pipe: Dask's log of the lost worker would fill a pipe nobody reads
    with Client(cluster.scheduler_address) as client, open(tmp_path / "stderr.txt", "w") as log:
        pids = list(client.run(os.getpid).values())
        proc = subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", *flags(SWEEP, *longer), "--executor", "dask",
                                 "--address", cluster.scheduler_address, "--out", str(out), "-q"],
                                stdout=subprocess.DEVNULL, stderr=log)
        _wait_for(lambda: (out / ".progress" / "plan.json").exists())
        time.sleep(1.0)  # both workers are training chunks
        os.kill(pids[0], signal.SIGKILL)
        assert proc.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
        assert client.run(os.getpid)  # the nanny started a new worker
    same_files(out, tmp_path / "local")


def test_resume_of_a_dask_run_whose_driver_was_killed(tmp_path, local):
    out = tmp_path / "dask"
    proc = subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", *SWEEP, "--executor", "dask", "--out", str(out),
                             "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for(lambda: list((out / ".progress" / "chunks").glob("*.npz")))  # some chunks are done
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the LocalCluster it started
    proc.wait()
    resumed = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--resume", "--out", str(out), "-q"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    same_files(out, local)
    assert len(json.loads((out / "manifest.json").read_text())["resumed"]) == 1


def test_a_scheduler_that_goes_away_stops_the_sweep_with_a_clear_message(tmp_path):
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    out = tmp_path / "dask"
    closer = threading.Thread(target=lambda: (
        _wait_for(lambda: (out / ".progress" / "plan.json").exists()), time.sleep(1.0), cluster.close()))
    closer.start()
    result = sweep(out, "--executor", "dask", "--address", cluster.scheduler_address, "--epochs", "3000")
    closer.join()
    assert result.returncode == 1
    assert "the Dask scheduler went away" in result.stderr
    assert f"l2cli sweep --resume --out {out}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert (out / ".progress" / "plan.json").exists()


def _wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_without_dask_installed_the_command_says_how_to_get_it(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None; from l2cli.cli import main; sys.argv = ['l2cli', "
            f"'sweep', '--executor', 'dask', '--epochs', '2', '--out', {str(tmp_path / 'run')!r}]; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "pip install 'l2cli[dask]'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_lbfgs_on_a_cluster_gives_the_local_numbers(tmp_path, cluster):
    """An L-BFGS chunk is one task that runs to its end (no segments): the same bytes as here."""
    args = [sys.executable, "-m", "l2cli", "sweep", "--hidden", "16", "--optimizer", "lbfgs", "--lambdas",
            "logspace(-4,0,6)", "--seeds", "0,1", "--set", "sweep.chunk_size=3", "--set", "sweep.checkpoint_s=0", "-q"]
    for out, extra in ((tmp_path / "local", []), (tmp_path / "dask", ["--executor", "dask", "--address",
                                                                     cluster.scheduler_address])):
        result = subprocess.run([*args, *extra, "--out", str(out)], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
    same_files(tmp_path / "dask", tmp_path / "local")


@pytest.mark.parametrize("optimizer", [["--optimizer", "lbfgs"],
                                       ["--optimizer", "sgd", "--epochs", "300", "--set", "train.tol=1e-5"]])
def test_a_warm_path_on_a_cluster_gives_the_local_numbers(tmp_path, cluster, optimizer):
    """Chunks of whole paths, a path's models one after another, in segments on the workers: the local bytes."""
    args = [sys.executable, "-m", "l2cli", "sweep", "--hidden", "16", *optimizer, "--path", "warm", "--lambdas",
            "logspace(-4,0,6)", "--seeds", "0,1", "--set", "sweep.chunk_size=6", "--set", "sweep.checkpoint_s=0.05",
            "-q"]
    for out, extra in ((tmp_path / "local", []), (tmp_path / "dask", ["--executor", "dask", "--address",
                                                                     cluster.scheduler_address])):
        result = subprocess.run([*args, *extra, "--out", str(out)], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
    same_files(tmp_path / "dask", tmp_path / "local")


def test_a_portable_sweep_on_a_cluster_of_portable_workers_runs_and_verifies(tmp_path):
    """--portable with --executor dask: the workers must run the portable kernels (checked before anything
    trains); started with them, the sweep runs and verify replays it exactly."""
    from l2cli.machine.environment import portable_variables

    wanted = portable_variables()
    if wanted.get("OPENBLAS_CORETYPE") == "Haswell":  # x86-64: a worker on the older kernels is refused
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                          env={"OPENBLAS_CORETYPE": "Sandybridge"}) as other:
            refused = sweep(tmp_path / "refused", "--portable", "--executor", "dask", "--address",
                            other.scheduler_address, "--epochs", "20")
        assert refused.returncode == 2 and "start them with" in refused.stderr, refused.stderr
        assert all(f"{k}='{v}'" in refused.stderr for k, v in wanted.items())
    out = tmp_path / "portable"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=wanted) as cluster:
        made = sweep(out, "--portable", "--executor", "dask", "--address", cluster.scheduler_address,
                     "--epochs", "20")
    assert made.returncode == 0, made.stderr
    assert json.loads((out / "manifest.json").read_text())["environment"]["portable"] is True
    verified = subprocess.run([sys.executable, "-m", "l2cli", "verify", str(out)], capture_output=True, text=True,
                              timeout=600)
    assert verified.returncode == 0 and "level exact holds" in verified.stderr, verified.stderr
