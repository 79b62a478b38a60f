"""SHA256SUMS, a run-directory file added as one module (l2cli/rundir/checksums.py): written last, over every file
the run wrote, in sha256sum's own format; verify names a file changed after it; a hostile SHA256SUMS is refused."""

import hashlib
import shutil
import subprocess

import pytest
from conftest import invoke

from l2cli.rundir.checksums import NAME, changed
from l2cli.rundir.run import OWN_FILES

QUICK = ["--dataset", "wine", "--hidden", "4", "--epochs", "5", "--lambdas", "1e-3,1e-1", "--seeds", "0,1", "-q"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sums") / "run"
    assert invoke("sweep", *QUICK, "--out", out).exit_code == 0
    return out


def test_sha256sums_covers_every_file_the_run_wrote_in_sha256sums_format(run):
    lines = (run / NAME).read_text().splitlines()
    written = sorted(p.name for p in run.iterdir() if p.name != NAME)
    assert [line.split("  ")[1] for line in lines] == written
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((run / name).read_bytes()).hexdigest() == digest
    if shutil.which("sha256sum"):  # the tool the format is for reads it
        checked = subprocess.run(["sha256sum", "-c", NAME], cwd=run, capture_output=True, text=True)
        assert checked.returncode == 0 and checked.stdout.count(": OK") == len(written)
    assert changed(run, OWN_FILES) == []


def test_verify_names_a_file_changed_after_the_run_wrote_it(run, tmp_path):
    edited = shutil.copytree(run, tmp_path / "edited")
    selection = edited / "selection.json"
    selection.write_text(selection.read_text().replace('"rule": "min"', '"rule": "min" '))
    assert changed(edited, OWN_FILES) == ["selection.json"]
    result = invoke("verify", edited)
    assert "note: selection.json was changed after l2cli wrote the run" in result.stderr
    assert result.exit_code == 0  # the numbers still replay: the note says what changed, the level decides


@pytest.mark.parametrize("content", ["not a checksum\n", "0" * 64 + "  ../../etc/passwd\n",
                                     "0" * 64 + "  summary.csv extra\n"])
def test_a_hostile_sha256sums_is_refused_in_one_line(run, tmp_path, content):
    edited = shutil.copytree(run, tmp_path / "hostile")
    (edited / NAME).write_text(content)
    result = invoke("verify", edited)
    assert result.exit_code == 2 and "not the SHA256SUMS l2cli writes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_link_in_place_of_a_file_counts_as_changed(run, tmp_path):
    edited = shutil.copytree(run, tmp_path / "linked")
    (edited / "aggregate.csv").unlink()
    (edited / "aggregate.csv").symlink_to(run / "aggregate.csv")
    assert changed(edited, OWN_FILES) == ["aggregate.csv"]
