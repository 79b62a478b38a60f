"""--overwrite replaces an l2cli run and nothing else, and no link in a run directory is followed.

Each case is what a hostile tester tried: the command exits 2 with one line, and every byte outside what l2cli
wrote, and outside the run directory, is as it was (a sentinel's bytes compared)."""

import json
import os
from pathlib import Path

import pytest
from conftest import flags, invoke

QUICK = ["--hidden", "4", "--epochs", "3", "--lambdas", "0,1", "--seeds", "0", "-q"]




def one_line(result, text):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, lines


def snapshot(root):
    """Every file under root (links not followed) and its bytes."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            out[path] = os.readlink(path) if os.path.islink(path) else Path(path).read_bytes()
    return out


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path):
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "thesis.txt").write_text("four years of work")
    (home / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    before = snapshot(tmp_path)
    one_line(invoke("sweep", *QUICK, "--overwrite", "--out", home), "is not an l2cli run directory")
    assert snapshot(tmp_path) == before


def test_overwrite_never_removes_the_input_data(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    table = out / "table.csv"
    table.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    before = snapshot(tmp_path)
    one_line(invoke("sweep", *QUICK, "--data", table, "--target", "y", "--overwrite", "--out", out),
             "is not an l2cli run directory")
    assert snapshot(tmp_path) == before
    # a run directory of l2cli's that also holds the data: the data is not l2cli's, so nothing goes
    run = tmp_path / "run2"
    data = tmp_path / "data.csv"
    data.write_bytes(table.read_bytes())
    assert invoke("sweep", *QUICK, "--data", data, "--target", "y", "--out", run).exit_code == 0
    (run / "mine.csv").write_bytes(table.read_bytes())
    before = snapshot(tmp_path)
    one_line(invoke("sweep", *QUICK, "--data", run / "mine.csv", "--target", "y", "--overwrite", "--out", run),
             "holds files l2cli did not write (mine.csv)")
    assert snapshot(tmp_path) == before
    # the data under one of l2cli's own names, inside the run: refused too
    (run / "mine.csv").rename(run / "plot.png")
    before = snapshot(tmp_path)
    one_line(invoke("sweep", *QUICK, "--data", run / "plot.png", "--target", "y", "--sep", ",", "--overwrite",
                    "--out", run), "would remove the input data")
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_a_run_holding_a_link_and_follows_none(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not l2cli's")
    run = tmp_path / "run"
    assert invoke("sweep", *QUICK, "--out", run).exit_code == 0
    (run / "elsewhere").symlink_to(outside, target_is_directory=True)
    before = snapshot(tmp_path)
    one_line(invoke("sweep", *QUICK, "--overwrite", "--out", run), "holds a symbolic link, elsewhere")
    assert snapshot(tmp_path) == before
    (run / "elsewhere").unlink()
    (run / "summary.csv").unlink()
    (run / "summary.csv").symlink_to(outside / "keep.txt")
    one_line(invoke("sweep", *QUICK, "--overwrite", "--out", run), "holds a symbolic link, summary.csv")
    assert (outside / "keep.txt").read_text() == "not l2cli's"


def test_a_link_at_the_lock_or_as_the_progress_folder_is_refused_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    (run / ".progress").mkdir(parents=True)
    (run / ".progress" / "plan.json").write_text(json.dumps({"config": {}}))
    (run / ".progress" / "lock").symlink_to(victim)
    result = invoke("sweep", *QUICK, "--overwrite", "--out", run)
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert victim.read_text() == "precious"
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (other / ".progress").symlink_to(elsewhere, target_is_directory=True)
    result = invoke("sweep", *QUICK, "--resume", "--out", other)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not list(elsewhere.iterdir())


@pytest.mark.slow  # it draws a picture (matplotlib)
def test_overwrite_replaces_an_l2cli_run_and_only_its_files(tmp_path):
    run = tmp_path / "run"
    assert invoke("sweep", *QUICK, "--out", run).exit_code == 0
    assert invoke("plot", run).exit_code == 0 and (run / "plot.png").is_file()
    assert invoke("sweep", *flags(QUICK, "--lambdas", "0.5"), "--overwrite", "--out", run).exit_code == 0
    assert json.loads((run / "manifest.json").read_text())["config"]["sweep"]["lambdas"] == [0.5]
    assert not (run / "plot.png").exists()  # the old picture was the old run's
