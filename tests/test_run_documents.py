"""The documents of a run directory are data, checked before they are believed: a wrong type, a hostile string,
a FIFO or a huge file is one line and exit 2, never a traceback or a hang; a diverged model predicts nothing;
Ctrl-C and SIGTERM end any command with 130 and 143."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import invoke

QUICK = ["--hidden", "4", "--epochs", "3", "--lambdas", "0,1", "--seeds", "0", "-q"]




def one_line(result, code, text):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, lines


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "run"
    assert invoke("sweep", *QUICK, "--out", out).exit_code == 0
    return out


def test_a_manifest_that_is_not_an_object_is_one_line_for_every_reader(run, tmp_path):
    (run / "manifest.json").write_text("[]")
    for command in (["show", run], ["best", run], ["verify", run], ["diff", run, run], ["plot", run],
                    ["predict", run, "--data", run / "summary.csv"]):
        one_line(invoke(*command), 2, "manifest.json holds a JSON list, not the object l2cli writes")
    listed = invoke("runs", tmp_path)
    assert listed.exit_code == 0  # one unreadable run does not stop the listing


def test_best_prints_only_a_finite_lambda_it_checked(run):
    selection = json.loads((run / "selection.json").read_text())
    for bad in ("0.01; rm -rf ~", float("nan"), -1.0, True):
        (run / "selection.json").write_text(json.dumps({**selection, "lambda": bad}))
        result = invoke("best", run)
        one_line(result, 2, "its lambda is not a finite number ≥ 0")
        assert result.stdout == ""


def test_a_fifo_or_a_huge_document_is_refused_without_reading_it(run):
    (run / "selection.json").unlink()
    os.mkfifo(run / "selection.json")
    start = time.monotonic()
    one_line(invoke("best", run), 2, "is not a regular file")
    assert time.monotonic() - start < 10
    (run / "selection.json").unlink()
    with open(run / "selection.json", "wb") as fh:
        fh.truncate(65 * 2**20)  # sparse: nothing is written, and nothing may be read
    one_line(invoke("best", run), 2, "more than the 64 MiB a run's document may be")


def test_a_damaged_plan_fails_resume_in_one_line_every_time(tmp_path):
    out = tmp_path / "run"
    (out / ".progress").mkdir(parents=True)
    (out / ".progress" / "plan.json").write_text("[1, 2]")
    for _ in range(2):
        one_line(invoke("sweep", "--resume", "--out", out), 2, "plan.json holds a JSON list")
    (out / ".progress" / "plan.json").write_text('{"config": ' * 3000 + "{}" + "}" * 3000)
    one_line(invoke("sweep", "--resume", "--out", out), 2, "nested too deeply")


def test_a_diverged_model_predicts_nothing(tmp_path):
    out = tmp_path / "run"
    result = invoke("sweep", "--dataset", "diabetes", "--optimizer", "sgd", "--lr", "10", "--epochs", "20",
                    "--hidden", "8", "--lambdas", "0", "--seeds", "0", "--out", out, "-q")
    assert result.exit_code == 1
    rows = tmp_path / "rows.csv"
    import pandas as pd
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.drop(columns="target").head(3)
    frame.to_csv(rows, index=False)
    predicted = invoke("predict", out, "--data", rows, "--lambda", "0")
    one_line(predicted, 1, "the model of λ = 0, seed 0 diverged: it predicts nothing")
    assert predicted.stdout == "" and pd.read_csv(out / "summary.csv")["status"].iloc[0] == "diverged"


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_plot_with_its_exit_code(run, signum, code):
    maps = "/proc/{}/maps"
    if not os.path.exists(maps.format(os.getpid())):
        pytest.skip("no /proc: no way to see that the process is inside the command")
    proc = subprocess.Popen([sys.executable, "-m", "l2cli", "plot", str(run), "-o", str(run / "p.png")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal gives

    def inside() -> bool:  # the command imports matplotlib itself: once its libraries are mapped, it is running
        try:
            with open(maps.format(proc.pid)) as fh:
                return "matplotlib" in fh.read()
        except OSError:
            return False

    deadline = time.monotonic() + 60
    while not inside() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    if proc.returncode == 0:
        pytest.skip("the picture was finished before the signal came (a fast machine)")
    assert proc.returncode == code and "Traceback" not in err and f"stopped by {signal.Signals(signum).name}" in err


def test_toml_nested_thousands_deep_is_one_line(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("[train]\nlr = " + "[" * 3000 + "]" * 3000 + "\n")
    one_line(invoke("sweep", deep), 2, "nested too deeply")
    one_line(invoke("sweep", "--set", "train.lr=" + "[" * 3000 + "]" * 3000), 2, "nested too deeply")


def test_a_malformed_scheduler_address_is_one_line(tmp_path):
    for address in ("foo://x", "tcp://host", "tcp://host:0", "host:8786"):
        one_line(invoke("sweep", "--executor", "dask", "--address", address), 2, "is not a scheduler address")


def test_terminal_tables_show_no_control_or_direction_characters(tmp_path):
    import pandas as pd

    evil = "ev\x1b[2Jil\u202eevil"
    frame = pd.DataFrame({"a": range(40), evil: [i % 5 for i in range(40)], "y": [i % 2 for i in range(40)]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "run"
    assert invoke("sweep", "--data", tmp_path / "t.csv", "--target", "y", *QUICK, "--out", out).exit_code == 0
    shown = invoke("show", out, "--features")
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "\ufffdevil" in shown.stdout
    assert evil in (out / "features.csv").read_text()  # the file keeps the name as it is: data, not display


def test_a_run_directory_of_the_names_before_2_december_2026_is_read_and_verified(tmp_path):
    """tests/data/run-2026-12-02 was written by l2cli before manifest.json's "groups" became "cells" and
    weights.npz's "group" became "cell": every reader still takes it, and it verifies (to the numbers level: the
    directory may have been written on another CPU than the one running the test)."""
    import shutil

    from l2cli.rundir.run import Run
    from l2cli.tools.reload import predict_file

    run_dir = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "data" / "run-2026-12-02", run_dir)
    assert "groups" in json.loads((run_dir / "manifest.json").read_text())  # the old names, on disk
    run = Run.load(run_dir)
    assert [c["axes"] for c in run.manifest["cells"]] == [{"data.n_samples": 60}, {"data.n_samples": 80}]
    assert list(run.read_weights()["cell"]) == [0, 0, 1, 1]
    result = invoke("verify", str(run_dir), "--level", "numbers", "-q")
    assert result.exit_code == 0, result.output
    table = tmp_path / "rows.csv"
    table.write_text("x0,x1\n0.5,0.2\n")
    assert len(predict_file(run, str(table))) == 1
    assert invoke("show", str(run_dir), "--aggregate").exit_code == 0


@pytest.mark.parametrize("field,value", [("lambda", "0.1"), ("lambda", -1), ("lambda", float("nan")), ("axes", []),
                                         ("within_1se", [0.1, "x"]), ("table", [1]), ("by_evidence", {"lambda": "a"}),
                                         ("choices", {"min": {"lambda": True}}), ("remarks", "text")])
def test_a_library_reader_gets_selection_json_checked(tmp_path, field, value):
    """Run.load checks selection.json for every reader, not only the CLI's commands."""
    import json as _json

    from l2cli.errors import InputError
    from l2cli.rundir.run import Run

    run_dir = shutil.copytree(Path(__file__).parent / "data" / "house" / "w1", tmp_path / "run")
    doc = _json.loads((run_dir / "selection.json").read_text())
    doc[field] = value
    (run_dir / "selection.json").write_text(_json.dumps(doc))
    with pytest.raises(InputError, match="selection.json: .*not a selection l2cli wrote"):
        Run.load(run_dir)
    assert Run.load(Path(__file__).parent / "data" / "house" / "w1").selection["lambda"] is not None
