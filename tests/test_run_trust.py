"""A run directory is data, never an instruction: every file a reader takes from it is checked before it is
used, nothing outside it is read, followed or written, every predictable fault is one line with the finished
work kept, and size and memory are checked before any work.

Each test asserts the exit code, one stderr line without a traceback, and (where a write could go astray)
that a sentinel file outside the run directory kept its bytes."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import QUICK, invoke


def one_line(result, code, text=""):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, result.stderr
    return lines[0]




@pytest.fixture
def run(tmp_path, pristine):
    """A copy of a finished run, beside a sentinel file whose bytes must not change."""
    out = tmp_path / "run"
    shutil.copytree(pristine, out)
    (tmp_path / "sentinel.txt").write_bytes(b"secret: do not touch\n")
    return out


def sentinel_intact(tmp_path):
    assert (tmp_path / "sentinel.txt").read_bytes() == b"secret: do not touch\n"


def edit_json(path: Path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


# --- every reader checks every file -----------------------------------------------------------------------------

@pytest.mark.parametrize("table,drop", [("summary", "seed"), ("history", "epoch"), ("features", "norm"),
                                        ("aggregate", "lambda")])
def test_a_table_without_a_required_column_is_one_line_for_its_readers(run, table, drop):
    path = run / f"{table}.csv"
    pd.read_csv(path).drop(columns=drop).to_csv(path, index=False)
    commands = {"summary": [["show", run], ["predict", run, "--data", path]],
                "history": [["show", run, "--history"]], "features": [["show", run, "--features"]],
                "aggregate": [["show", run, "--aggregate"]]}[table]
    for command in commands:
        one_line(invoke(*command), 2, f"{table}.csv lacks the column {drop}")


def test_a_table_with_values_l2cli_never_writes_is_refused(run):
    path = run / "summary.csv"
    frame = pd.read_csv(path)
    frame.loc[1, "seed"] = -3
    frame.to_csv(path, index=False)
    one_line(invoke("show", run), 2, "summary.csv line 3: column seed must hold whole numbers ≥ 0")
    frame.loc[1, "seed"], frame.loc[0, "status"] = 0, "rm -rf ~"
    frame.to_csv(path, index=False)
    one_line(invoke("show", run), 2, "column status holds 1 value(s) l2cli never writes")


def damaged_weights(run, how):
    path = run / "weights.npz"
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "not an npz":
        path.write_text("lambda,seed\n0,0\n")
    else:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        if how == "an object member":
            arrays["W1"] = np.array([{"a": 1}] * len(arrays["cell"]), dtype=object)
        elif how == "a wrong shape":
            arrays["W2"] = arrays["W2"][:, :3, :]
        elif how == "fewer models":
            arrays = {k: v[:-1] for k, v in arrays.items() if k != "network"}
        elif how == "no cell":
            arrays.pop("cell")
        np.savez(path.open("wb"), **arrays)


@pytest.mark.parametrize("how,message", [("truncated", "cannot be read as l2cli's weights"),
                                         ("not an npz", "cannot be read as l2cli's weights"),
                                         ("an object member", "cannot be read as l2cli's weights"),
                                         ("a wrong shape", "do not make layer 2 of a network"),
                                         ("fewer models", "holds 3 models and summary.csv 4 rows"),
                                         ("no cell", "has no cell and lambda members")])
def test_damaged_weights_are_one_line_for_predict_plot_and_verify(run, tmp_path, how, message, monkeypatch):
    import l2cli.sweeps.runner

    damaged_weights(run, how)
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n")
    one_line(invoke("predict", run, "--data", rows), 2, message)
    monkeypatch.setattr(l2cli.sweeps.runner, "run_experiment", lambda *a, **k: pytest.fail("replayed a damaged run"))
    one_line(invoke("verify", run), 2, message)  # before the replay, not after it


def test_a_manifest_whose_network_differs_from_the_weights_is_refused(run, tmp_path):
    edit_json(run / "manifest.json", lambda d: d["config"]["model"].update(activation="tanh"))
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n")
    line = "were trained with activation relu and loss cross_entropy, and manifest.json says tanh"
    one_line(invoke("predict", run, "--data", rows), 2, line)
    edit_json(run / "manifest.json", lambda d: d["config"]["model"].update(activation="relu", hidden=[5]))
    one_line(invoke("predict", run, "--data", rows), 2, "weights are of a 2-4-2 network, and manifest.json "
                                                        "describes 2-5-2")


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("cells"), "cells is missing or not list"),
    (lambda d: d["cells"][0].update(layout={"chunk_size": "x", "workers": 1, "threads": 1}),
     "cells[0].layout.chunk_size is not a count"),
    (lambda d: d["cells"][0].update(fingerprint_sha256="cat /etc/passwd"), "is not a SHA-256"),
    (lambda d: d.update(config=[1, 2]), "config is missing or not dict"),
])
def test_a_manifest_of_the_wrong_shape_is_one_line_for_every_reader(run, change, message):
    edit_json(run / "manifest.json", change)
    for command in (["show", run], ["verify", run], ["diff", run, run], ["plot", run, "--panel", "losses"]):
        one_line(invoke(*command), 2, message)


def test_one_unreadable_run_leaves_the_others_listed(tmp_path, pristine):
    shutil.copytree(pristine, tmp_path / "runs" / "a")
    shutil.copytree(pristine, tmp_path / "runs" / "b")
    (tmp_path / "runs" / "b" / "manifest.json").write_text("[]")
    result = invoke("runs", tmp_path / "runs", "--format", "csv")
    assert result.exit_code == 0 and result.stdout.count("\n") == 2 and "a," in result.stdout


def test_recorded_worker_counts_are_capped_by_this_machines_cores(run):
    from l2cli.machine.cores import usable_cores
    from l2cli.rundir.run import Run
    from l2cli.tools.verify import replay_config

    edit_json(run / "manifest.json", lambda d: d["cells"][0]["layout"].update(workers=99))
    _, layouts = replay_config(Run.load(run))
    assert layouts[0].workers <= usable_cores()


def test_a_recorded_data_path_that_is_not_the_runs_data_is_refused_without_its_content(tmp_path):
    data = tmp_path / "table.csv"
    pd.DataFrame({"a": np.arange(40.0), "y": np.arange(40) % 2}).to_csv(data, index=False)
    out = tmp_path / "run"
    assert invoke("sweep", "--data", data, "--target", "y", *QUICK, "--out", out, "-q").exit_code == 0
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:secret-line:/root:/bin/bash\nuser:x:1000\n")
    edit_json(out / "manifest.json", lambda d: (d["config"]["data"].update(path=str(secret)),
                                                d["data"].update(path_absolute=str(secret), path_relative_to_run=None)))
    for command in (["verify", out], ["predict", out, "--data", data]):
        result = invoke(*command)
        assert result.exit_code == 2 and "secret-line" not in result.output and "root:x" not in result.output
        one_line(result, 2, "its content is not shown")
    plotted = invoke("plot", out, "--panel", "coefficients")  # a panel of the tables: the data is not read
    assert plotted.exit_code == 0 and "secret-line" not in plotted.output


def test_a_checkpoint_or_chunk_file_that_does_not_match_its_checksum_retrains_from_its_seeds(tmp_path):
    from l2cli.training.checkpoint import CHECKSUM, Checkpoint, Damaged, read_checked, write_atomically

    path = tmp_path / "c.npz"
    write_atomically(path, {"a": np.arange(3.0)}, "none")
    assert read_checked(path)["a"].tolist() == [0.0, 1.0, 2.0]
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["a"][1] = 7.0  # a consistent zip with one number changed: only the checksum tells
    np.savez(path.open("wb"), **arrays)
    with pytest.raises(Damaged, match="checksum"):
        read_checked(path)
    assert CHECKSUM in arrays and Checkpoint(path, 1.0).read() is None and not path.exists()


# --- nothing outside is followed or written -----------------------------------------------------------------------

@pytest.mark.slow  # matplotlib
def test_a_link_at_plot_png_is_replaced_not_written_through(run, tmp_path):
    os.symlink(tmp_path / "sentinel.txt", run / "plot.png")
    result = invoke("plot", run, "--panel", "losses")
    assert result.exit_code == 0, result.output
    assert (run / "plot.png").is_file() and not (run / "plot.png").is_symlink()
    sentinel_intact(tmp_path)


def test_a_link_in_place_of_a_table_or_the_weights_is_never_read(run, tmp_path):
    (run / "summary.csv").rename(run / "summary.kept")
    os.symlink(tmp_path / "sentinel.txt", run / "summary.csv")
    one_line(invoke("show", run), 2, "summary.csv is not a regular file (a link, FIFO or device)")
    (run / "summary.csv").unlink()
    (run / "summary.kept").rename(run / "summary.csv")
    (run / "weights.npz").unlink()
    os.symlink("/dev/zero", run / "weights.npz")
    one_line(invoke("verify", run), 2, "weights.npz is not a regular file")


def test_an_interrupted_plot_leaves_the_old_picture_and_no_temporary_file(run, monkeypatch):
    import matplotlib.figure

    (run / "plot.png").write_bytes(b"the old picture")

    def killed(self, fh, **kw):
        fh.write(b"half a pic")
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", killed)
    result = invoke("plot", run, "--panel", "losses")
    assert result.exit_code == 130
    assert (run / "plot.png").read_bytes() == b"the old picture"
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


# --- faults are one line ------------------------------------------------------------------------------------------

def test_names_over_255_bytes_are_one_line(run, tmp_path):
    long = tmp_path / ("x" * 300)
    one_line(invoke("sweep", *QUICK, "--out", long), 2, "longer than the file system allows")
    one_line(invoke("sweep", "--data", f"{long}.csv", "--target", "y", *QUICK, "--out", tmp_path / "o"), 2,
             "longer than the file system allows")
    one_line(invoke("show", long), 2)
    one_line(invoke("predict", run, "--data", f"{long}.csv"), 2, "longer than the file system allows")


def test_a_full_disk_while_writing_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno

    import l2cli.rundir.run

    def full(fh, arrays):
        fh.write(b"part of it")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(l2cli.rundir.run, "_savez", full)
    out = tmp_path / "run"
    result = invoke("sweep", *QUICK, "--out", out, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {out}/weights.npz: no space left on the device: free some and try again; the "
        f"finished work is kept in {out}: l2cli sweep --resume --out {out}"]
    assert not [p for p in out.rglob(".*tmp-*")]
    monkeypatch.undo()
    assert invoke("sweep", "--resume", "--out", out, "-q").exit_code == 0 and (out / "weights.npz").is_file()


def tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_tmpfs_then_resume_gives_the_uninterrupted_bytes(tmp_path):
    disk = tmp_path / "disk"
    if not tmpfs(disk, "600k"):
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        args = [sys.executable, "-m", "l2cli", "sweep", "--hidden", "64,64", "--epochs", "30", "--lambdas",
                "logspace(-4,0,8)", "--seeds", "0,1", "-q"]
        full = subprocess.run([*args, "--out", str(disk / "run")], capture_output=True, text=True, timeout=300)
        lines = full.stderr.strip().splitlines()
        assert full.returncode in (1, 2) and len(lines) == 1 and "no space left on the device" in lines[0], full.stderr
        assert not [p for p in disk.rglob("*tmp-*")]
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--resume", "--out", str(disk / "run"),
                                  "-q"], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        fresh = subprocess.run([*args, "--out", str(tmp_path / "fresh")], capture_output=True, text=True, timeout=300)
        assert fresh.returncode == 0
        for name in ("summary.csv", "history.csv", "weights.npz"):
            assert (disk / "run" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)  # read-only: --overwrite, plot
        for command in (["sweep", "--hidden", "4", "--epochs", "2", "--overwrite", "--out", str(disk / "run"), "-q"],
                        ["sweep", "--resume", "--out", str(disk / "run"), "-q"],
                        ["plot", str(disk / "run"), "--panel", "losses"]):
            ro = subprocess.run([sys.executable, "-m", "l2cli", *command], capture_output=True, text=True, timeout=300)
            lines = ro.stderr.strip().splitlines()
            assert ro.returncode == 2 and len(lines) == 1 and "Traceback" not in ro.stderr, ro.stderr
    finally:
        subprocess.run(["umount", "-l", str(disk)])


@pytest.mark.slow
def test_a_worker_killed_by_sigkill_is_one_line_and_the_work_is_kept(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", "--hidden", "64,64", "--epochs", "4000",
                             "--lambdas", "logspace(-4,0,8)", "--seeds", "0,1", "--set", "sweep.workers=2", "--set",
                             "sweep.chunk_size=4", "--set", "sweep.checkpoint_s=0", "--out", str(out), "-q"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    children = []
    while not children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "no worker started"
    time.sleep(1.0)
    os.kill(int(children[0]), signal.SIGKILL)  # what the OOM killer does
    stderr = proc.communicate(timeout=120)[1]
    lines = stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "a worker process died while training" in lines[0] and f"--resume --out {out}" in lines[0]
    assert (out / ".progress" / "plan.json").is_file()


@pytest.mark.slow  # imports distributed
def test_a_port_that_never_speaks_dask_is_refused_in_bounded_time(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import l2cli.executors.dask

    monkeypatch.setattr(l2cli.executors.dask, "CONNECT_TIMEOUT_S", 1.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)  # accepts, and never answers (as an HTTP server does to Dask's handshake)
    port = server.getsockname()[1]
    start = time.monotonic()
    try:
        result = invoke("sweep", *QUICK, "--executor", "dask", "--address", f"tcp://127.0.0.1:{port}", "--out",
                        tmp_path / "run", "-q")
    finally:
        server.close()
    assert time.monotonic() - start < 30
    one_line(result, 2, f"--address tcp://127.0.0.1:{port}: no Dask scheduler answers there")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_sigterm_ends_a_sweep_of_a_hundred_thousand_models_at_once(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", "--hidden", "4", "--epochs", "2", "--lambdas",
                             "linspace(0,1,100000)", "--seeds", "0", "--progress", "lines", "--progress-every", "1",
                             "--out", str(out)], stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = []
    for line in proc.stderr:  # once training has begun
        lines.append(line)
        if "% done (model-epochs)" in line:
            break
    os.kill(proc.pid, signal.SIGTERM)
    start = time.monotonic()
    rest = proc.communicate(timeout=60)[1]
    assert time.monotonic() - start < 10 and proc.returncode == 143
    assert "Traceback" not in rest and "stopped by SIGTERM" in rest
    assert subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).stdout == b""  # no process left


# --- size and memory are checked before any work --------------------------------------------------------------------

@pytest.mark.slow  # about 1.2 s; the default suite stays under 60 s
def test_a_huge_grid_is_refused_before_the_data_is_read(tmp_path, monkeypatch):
    import l2cli.sweeps.experiment

    monkeypatch.setattr(l2cli.sweeps.experiment, "load_data", lambda cfg: pytest.fail("read the data"))
    grid = ",".join(f"linspace({k},{k + 1},100000)" for k in range(10))
    line = one_line(invoke("sweep", "--lambdas", grid, "--seeds", "0", "--out", tmp_path / "run"), 2)
    assert "trains 999,991 models" in line and "more than sweep.max_models = 100,000" in line
    assert not (tmp_path / "run").exists()


def test_a_run_directory_too_large_to_write_is_refused_before_training(tmp_path):
    line = one_line(invoke("sweep", "--hidden", "512,512", "--lambdas", "logspace(-6,0,2000)", "--seeds", "0,1,2",
                           "--epochs", "1", "--out", tmp_path / "run", "-q"), 2)
    assert "the run directory would take about" in line and "output.max_mb = 8,192" in line


def test_a_chunk_larger_than_its_memory_budget_is_refused(tmp_path):
    line = one_line(invoke("sweep", "--hidden", "256,256", "--set", "sweep.memory_mb=1", *QUICK[2:],
                           "--out", tmp_path / "run", "-q"), 2)
    assert "needs about" in line and "more than sweep.memory_mb = 1" in line


@pytest.mark.slow
def test_the_memory_check_honours_the_address_space_limit(tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--dataset", "classification", "--set",
                             "data.n_samples=400000", "--set", "data.n_features=400", "--hidden", "8", "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, preexec_fn=limit, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "GiB is available" in lines[0], result.stderr
    assert time.monotonic() - start < 20


def test_available_memory_is_the_least_of_the_machine_the_cgroup_and_the_address_space(tmp_path, monkeypatch):
    import l2cli.machine.memory as layout

    group = tmp_path / "cg"
    group.mkdir()
    (group / "memory.max").write_text("1073741824\n")
    (group / "memory.current").write_text("268435456\n")
    assert layout.cgroup_memory_room(str(group)) == 768 * 2**20
    (group / "memory.max").write_text("max\n")
    assert layout.cgroup_memory_room(str(group)) is None
    monkeypatch.setattr(layout, "cgroup_memory_room", lambda: 5 * 2**20)
    assert layout.available_memory() == 5 * 2**20


# --- outputs that cannot hurt the reader ------------------------------------------------------------------------

def test_cells_that_would_start_a_formula_are_escaped_in_csv_outputs(tmp_path):
    data = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"=HYPERLINK(\"http://x\")": rng.normal(size=60), "@SUM(A1)": rng.normal(size=60),
                  "y": rng.choice(["+cmd|' /C calc'!A0", "-ok"], 60)}).to_csv(data, index=False)
    out = tmp_path / "run"
    assert invoke("sweep", "--data", data, "--target", "y", *QUICK, "--out", out, "-q").exit_code == 0
    text = (out / "features.csv").read_text()
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and "\n=" not in text and ",=" not in text
    shown = invoke("show", out, "--features")  # read back: the names as they were
    assert shown.exit_code == 0 and '=HYPERLINK("http://x")' in shown.stdout
    predicted = invoke("predict", out, "--data", data, "--format", "csv")
    assert predicted.exit_code == 0 and "'+cmd|" in predicted.stdout and "'-ok" in predicted.stdout
    assert not [line for line in predicted.stdout.splitlines() if line.startswith(("=", "+", "@"))]


# --- the fuzz: every file of a run directory mutated, every reader run on it ---------------------------------------

MUTATIONS = ("truncate", "empty", "garbage", "json list", "drop column", "link out", "fifo", "remove")


def mutate(path: Path, how: str, rng, outside: Path) -> None:
    if how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, max(1, len(data))))])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    elif how == "json list":
        path.write_text("[1, 2]")
    elif how == "drop column" and path.suffix == ".csv":
        frame = pd.read_csv(path)
        frame.drop(columns=frame.columns[int(rng.integers(0, len(frame.columns)))]).to_csv(path, index=False)
    elif how == "link out":
        path.unlink()
        os.symlink(outside, path)
    elif how == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif how == "remove":
        path.unlink()




@pytest.mark.slow
@pytest.mark.parametrize("source", ["finished", "interrupted"])
def test_fuzz_every_file_of_a_run_directory_and_every_reader(tmp_path, pristine, interrupted, source):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base = pristine if source == "finished" else interrupted
    files = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and p.name != "lock")
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n")
    commands = [["show", "{run}"], ["show", "{run}", "--history"], ["best", "{run}"], ["runs", "{root}"],
                ["predict", "{run}", "--data", str(rows)], ["verify", "{run}"], ["diff", "{run}", "{run}"],
                ["sweep", "--resume", "--out", "{run}", "-q"],
                ["plot", "{run}", "--panel", "losses", "--panel", "norms"]]

    @settings(max_examples=40 if source == "finished" else 25, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(files), st.sampled_from(MUTATIONS), st.integers(0, 2**32 - 1))
    def check(name, how, seed):
        root = tmp_path / f"case-{seed}-{MUTATIONS.index(how)}"
        shutil.rmtree(root, ignore_errors=True)
        run = root / "run"
        shutil.copytree(base, run)
        outside = root / "outside.txt"
        outside.write_bytes(b"outside")
        mutate(run / name, how, np.random.default_rng(seed), outside)
        before = sorted(p.name for p in root.iterdir())
        for command in commands:
            args = [a.format(run=run, root=root) for a in command]
            signal.signal(signal.SIGALRM, lambda *_, cmd=args: (_ for _ in ()).throw(TimeoutError(f"{cmd} hung")))
            signal.alarm(120)
            try:
                result = invoke(*args)
            finally:
                signal.alarm(0)
            assert result.exit_code in (0, 1, 2), (name, how, args, result.output)
            assert "Traceback" not in result.output and (result.exception is None
                                                         or isinstance(result.exception, SystemExit)), \
                (name, how, args, result.output, repr(result.exception))
            assert outside.read_bytes() == b"outside" and sorted(p.name for p in root.iterdir()) == before
        shutil.rmtree(root, ignore_errors=True)

    check()


def test_a_full_disk_during_plot_is_one_line_and_leaves_the_old_picture(run, monkeypatch):
    import errno

    import matplotlib.figure

    (run / "plot.png").write_bytes(b"the old picture")

    def full(self, fh, **kw):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    one_line(invoke("plot", run, "--panel", "losses"), 2, "no space left on the device")
    assert (run / "plot.png").read_bytes() == b"the old picture"
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("stop,code", [(KeyboardInterrupt, 130), (None, 143)])
def test_ctrl_c_and_sigterm_end_predict_with_130_and_143(run, tmp_path, monkeypatch, stop, code):
    import l2cli.tools.reload

    def stopped(*a, **k):
        if stop is None:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises where the command is
            time.sleep(5)
        raise stop()

    monkeypatch.setattr(l2cli.tools.reload, "predict_file", stopped)
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n")
    result = invoke("predict", run, "--data", rows)
    assert result.exit_code == code and "Aborted" not in result.output
