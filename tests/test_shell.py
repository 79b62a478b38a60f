"""At home in CI logs, containers and shell scripts: progress lines without a terminal, quiet that is quiet,
the cores a process may use, unique default directories, conflicting options refused, help for every option,
and an import that works from any directory. Commands run as subprocesses with stderr to a file (not a TTY)."""

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from conftest import invoke

from l2cli.cli import cli
from l2cli.config import resolve
from l2cli.sweeps.experiment import prepare
from l2cli.sweeps.layout import Compute, choose

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--set", "data.n_samples=100", "--hidden", "8", "--epochs", "40", "--lambdas", "1e-3,1", "--seeds", "0,1"]


def l2cli(*args, cwd=None, timeout=300, **kw):
    """Run l2cli in a new process, stderr to a file: (exit code, stdout, stderr)."""
    err = Path(cwd or os.getcwd()) / f".stderr-{time.monotonic_ns()}"
    with open(err, "w") as fh:
        proc = subprocess.run([sys.executable, "-m", "l2cli", *map(str, args)], stdout=subprocess.PIPE, stderr=fh,
                              text=True, cwd=cwd, timeout=timeout, **kw)
    text = err.read_text()
    err.unlink()
    return proc.returncode, proc.stdout, text




@pytest.mark.slow
def test_progress_lines_come_at_the_set_interval_in_a_log_and_add_up(tmp_path):
    """A sweep of 20 s or more here, stderr to a file: the shares rise to 100 %, the counts are the header's."""
    start = time.monotonic()
    code, _, err = l2cli("sweep", "--epochs", "16000", "--grid", "model.hidden=[16],[32]", "--progress-every", "1",
                         "--out", tmp_path / "run", cwd=tmp_path)
    seconds = time.monotonic() - start
    assert code == 0, err
    lines = err.splitlines()
    header = next(line for line in lines if " models (" in line)
    assert header.startswith("l2cli: 60 models (6 λ × 5 seeds × 2 grid cells)")
    progress = [line for line in lines if "% done (model-epochs)" in line]
    ticks = [line for line in progress if "grid cell" not in line]
    cells = [line for line in progress if line.startswith("l2cli: grid cell ")]
    # as many lines as seconds of training, give or take the start-up and the writing (≤ the whole run)
    assert 1 <= len(ticks) <= seconds + 2, (len(ticks), seconds)
    shares = [int(line.split("training ")[1].split("%")[0]) for line in progress]
    assert shares == sorted(shares) and shares[-1] == 100, shares
    assert len(cells) == 2 and cells[-1].endswith("60 of 60 models finished")
    counts = [line.split(", ")[-1] for line in progress if "finished" in line]
    assert all(c.endswith(" of 60 models finished") for c in counts), counts
    assert all("elapsed" in t for t in ticks) and "best validation loss" not in err
    assert all("left at the rate so far" in t for t in ticks if "% done" in t and "100%" not in t)
    assert "\r" not in err  # no bar in a log


@pytest.mark.slow
def test_progress_of_a_grid_with_cross_validation_names_folds_and_refits(tmp_path):
    code, _, err = l2cli("sweep", "--epochs", "300", "--lambdas", "0.01,0.1", "--seeds", "0,1", "--grid",
                         "model.hidden=[4],[8]", "--cv", "3", "--progress", "lines", "--out", tmp_path / "run",
                         cwd=tmp_path)
    assert code == 0, err
    assert ("3-fold cross-validation: 32 trainings (8 models on 3 folds each, and their 8 refits)" in err)
    last = [line for line in err.splitlines() if "% done" in line][-1]
    assert "training 100% done" in last and last.endswith("32 of 32 trainings finished")


@pytest.mark.slow
def test_progress_none_and_quiet_print_no_progress(tmp_path):
    for extra in (["--progress", "none"], ["-q"]):
        code, _, err = l2cli("sweep", *QUICK, "--progress-every", "0.01", *extra, "--out", tmp_path / extra[-1],
                             cwd=tmp_path)
        assert code == 0 and "% done" not in err
        assert (err == "") == (extra == ["-q"])


@pytest.mark.slow
def test_quiet_is_quiet_on_a_diverging_sweep_and_the_warnings_are_counted(tmp_path):
    diverging = ["--dataset", "diabetes", "--optimizer", "sgd", "--lr", "10", "--epochs", "50", "--hidden", "8",
                 "--seeds", "0,1"]
    code, _, err = l2cli("sweep", *diverging, "-q", "--out", tmp_path / "q", cwd=tmp_path)
    assert code == 1 and err == ""
    counted = json.loads((tmp_path / "q" / "manifest.json").read_text())["numeric_warnings"]
    assert counted["count"] > 0 and len(counted["diverged_models"]) == 12
    code, _, err = l2cli("sweep", *diverging, "--out", tmp_path / "loud", cwd=tmp_path)
    assert code == 1 and "RuntimeWarning" not in err and "encountered" in err
    assert sum("numeric warning(s)" in line for line in err.splitlines()) == 1


@pytest.mark.slow
def test_four_sweeps_started_at_once_without_out_get_a_directory_each(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", *QUICK, "-q"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 4 and all((r / "manifest.json").is_file() for r in runs)


@pytest.mark.slow
def test_a_default_directory_that_gets_nothing_is_removed(tmp_path):
    code, _, err = l2cli("sweep", "--data", tmp_path / "missing.csv", "--target", "y", cwd=tmp_path)
    assert code == 2 and "data file not found" in err
    assert not list((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["sweep", "--lr", "0.1", "--lr", "0.2"], "--lr is given twice, as 0.1 and 0.2"),
    (["sweep", "--epochs=5", "--epochs", "6"], "--epochs is given twice"),
    (["sweep", "--grid", "model.hidden=[8],[16]", "--grid", "model.hidden=[4]"], "--grid model.hidden is given twice"),
    (["sweep", "--grid", "train.lr=0.1,0.2", "--lr", "0.5"], "train.lr is both a --grid axis and a single value"),
    (["sweep", "--grid", "train.lr=0.1,0.2", "--set", "train.lr=0.5"], "train.lr is both a --grid axis"),
    (["sweep", "--dataset", "wine", "--data", "iris.csv", "--target", "y"], "data.dataset and data.path both"),
    (["sweep", "--out", ""], "--out: give a directory"),
    (["show", "RUN", "--aggregate", "--history"], "--aggregate and --history ask for different things"),
    (["sweep", str(ROOT / "configs" / "default.toml"), "--cv", "5"], "choose one way to select λ: data.val_size = "
                                                                     "0.2 (a validation split) or sweep.cv = 5"),
])
def test_conflicting_options_are_one_line_and_exit_2(tmp_path, args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "cwd" / "runs").exists() or not list((tmp_path / "cwd" / "runs").iterdir())


@pytest.mark.slow
def test_one_core_of_affinity_means_one_process_and_one_thread(tmp_path):
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    one = sorted(os.sched_getaffinity(0))[:1]
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--epochs", "600", "--out", str(out), "-q"],
                          preexec_fn=lambda: os.sched_setaffinity(0, one), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    compute = json.loads((out / "manifest.json").read_text())["compute"]
    assert (compute["workers"], compute["blas_threads_per_worker"]) == (1, 1)


def test_jobs_caps_processes_and_threads_and_threads_follow_the_capped_workers():
    exp = prepare(resolve(flags={"train.epochs": 3000}))
    # 18 points in chunks of 6 on 16 cores: 3 workers (one per chunk), each with 16 // 3 = 5 threads
    assert choose(exp, 18, Compute(chunk_size=6), cores=16) == choose(exp, 18, Compute(chunk_size=6, workers=8),
                                                                      cores=16)
    laid = choose(exp, 18, Compute(chunk_size=6), cores=16)
    assert (laid.workers, laid.threads) == (3, 5)
    assert (lambda lay: (lay.workers, lay.threads))(choose(exp, 30, Compute(jobs=1), cores=16)) == (1, 1)
    assert (lambda lay: (lay.workers, lay.threads))(choose(exp, 30, Compute(jobs=4), cores=16)) == (4, 1)
    assert choose(exp, 30, Compute(jobs=2, workers=8), cores=16).workers == 2


def test_a_request_pinned_to_its_layout_chooses_it_again_wherever_it_runs():
    """plan.json and verify keep Compute.pinned(layout): on any core count it gives the same chunks."""
    exp = prepare(resolve(flags={"train.epochs": 3000}))
    asked = Compute(memory_mb=64)
    laid = choose(exp, 30, asked, cores=16)
    pinned = asked.pinned(laid)
    assert (pinned.chunk_size, pinned.workers, pinned.threads, pinned.memory_mb) == (*dataclasses.astuple(laid), 64)
    assert choose(exp, 30, pinned, cores=16) == laid
    assert choose(exp, 30, pinned, cores=2).chunk_size == laid.chunk_size  # the chunks do not follow the cores
    assert asked.pinned(laid, workers=2).workers == min(laid.workers, 2)


def test_the_usable_cores_are_joblibs_count_of_the_affinity_and_the_quota():
    from joblib import cpu_count

    from l2cli.machine.cores import usable_cores

    assert usable_cores() == max(1, cpu_count())
    if hasattr(os, "sched_setaffinity"):
        one = sorted(os.sched_getaffinity(0))[:1]
        code = "from l2cli.machine.cores import usable_cores; print(usable_cores())"
        proc = subprocess.run([sys.executable, "-c", code], preexec_fn=lambda: os.sched_setaffinity(0, one),
                              capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == "1"


def test_jobs_one_is_recorded(tmp_path):
    result = invoke("sweep", *QUICK, "--jobs", "1", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["sweep"]["jobs"] == 1 and manifest["compute"]["workers"] == 1


def test_every_option_of_every_command_has_help_and_the_top_help_lists_every_exit_code():
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"l2cli {name} {param.opts[0]} has no help"
                if isinstance(param.type, click.Choice) and len(param.type.choices) > 1:
                    shown = param.get_help_record(click.Context(command))[0]
                    assert all(c in shown for c in param.type.choices) or "[" in param.help
    top = invoke("--help").output
    for code in ("0 success", "1 run failure", "2 usage", "130", "143"):
        assert code in top
    sweep_options = {p.opts[0]: p for p in cli.commands["sweep"].params}
    assert sweep_options["--lr"].help.endswith("[train.lr; default: 0.01]")
    assert sweep_options["--activation"].help.endswith("[model.activation; default: relu]")
    assert "--sep SEP" in invoke("sweep", "--help").output


def test_predict_takes_quiet(tmp_path):
    assert invoke("predict", "--help").output.count("-q, --quiet") == 1


def test_diff_leaves_out_what_cannot_change_a_number_unless_all(tmp_path):
    for name in ("a", "b"):
        assert invoke("sweep", *QUICK, "--out", tmp_path / name, "-q", "--jobs", "1" if name == "a" else "2") \
            .exit_code == 0
    plain = invoke("diff", tmp_path / "a", tmp_path / "b", "--format", "csv").stdout
    assert "output.dir" not in plain and "sweep.jobs" not in plain
    everything = invoke("diff", tmp_path / "a", tmp_path / "b", "--all", "--format", "csv").stdout
    assert "output.dir" in everything and "sweep.jobs" in everything


def test_a_grid_sweep_header_gives_each_cells_rows_when_they_differ(tmp_path):
    result = invoke("sweep", "--set", "data.n_samples=150", "--hidden", "4", "--epochs", "10", "--lambdas", "1e-3,1",
                    "--seeds", "0", "--grid", "data.n_train=20,40", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    header = result.stderr.splitlines()[0]
    assert "data.n_train=20: 20 train / 60 test / 30 val" in header
    assert "data.n_train=40: 40 train / 60 test / 30 val rows" in header


def test_import_and_python_m_work_from_the_clone_parent(tmp_path):
    """A folder named like the package (a clone 'l2cli/') in the working directory must not shadow it."""
    (tmp_path / "l2cli").mkdir()
    (tmp_path / "l2cli" / "setup.cfg").write_text("[metadata]\nname = l2cli\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = subprocess.run([sys.executable, "-c", "import l2cli; l2cli.sweep; print(l2cli.__file__)"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=60)
    assert code.returncode == 0, code.stderr
    version = subprocess.run([sys.executable, "-m", "l2cli", "--version"], cwd=tmp_path, capture_output=True,
                             text=True, env=env, timeout=60)
    assert version.returncode == 0 and "l2cli, version" in version.stdout, version.stderr
