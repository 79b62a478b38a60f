"""Reproducible on another machine: the environment record, verify re-creating it, the portable mode, the
verification levels and data found from anywhere.

Two OpenBLAS kernels this CPU can run stand for two machines: a process started with OPENBLAS_CORETYPE set
to one of them computes as a CPU whose native kernel it is (the tests skip where the CPU offers only one).
"""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import invoke

from l2cli.machine.environment import KERNEL_NEEDS, PORTABLE, cpu, differences, kernels, pins, record

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "data.n_samples=100", "--hidden", "16", "--epochs", "150", "--lambdas", "1e-4,1e-2,1",
         "--seeds", "0,1,2"]




def two_kernels() -> tuple[str, str]:
    """Two OpenBLAS kernels this CPU runs whose products differ in the last bits."""
    flags = cpu()["vector_extensions"]
    usable = [k for k in ("SkylakeX", "Haswell", "Sandybridge") if all(f in flags for f in KERNEL_NEEDS[k])]
    if len(usable) < 2 or not record()["blas"] or kernels(record()) == []:
        pytest.skip(f"this CPU offers one OpenBLAS kernel of those tried ({usable}), or the BLAS is not OpenBLAS")
    return usable[0], usable[1]


def l2cli(*args, env=None, cwd=None):
    """l2cli in a new process (its kernels chosen when it loads numpy), with ``env`` added."""
    return subprocess.run([sys.executable, "-m", "l2cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


def test_the_manifest_records_the_numerical_environment(tmp_path):
    out = tmp_path / "run"
    assert invoke("sweep", *SMALL, "--out", out, "-q").exit_code == 0
    env = json.loads((out / "manifest.json").read_text())["environment"]
    assert env["blas"] and all({"library", "version", "kernel", "threads"} <= set(b) for b in env["blas"])
    assert {"version", "baseline", "dispatch", "targets"} <= set(env["numpy"])
    assert env["cpu"]["model"] and isinstance(env["cpu"]["vector_extensions"], list)
    assert env["architecture"] and env["os"] and env["versions"]["numpy"] and env["versions"]["scikit-learn"]
    assert env["portable"] is False
    shown = invoke("show", out, "--environment")
    assert shown.exit_code == 0 and "OpenBLAS" in shown.output or "openblas" in shown.output
    assert invoke("show", out, "--environment", "--format", "json").exit_code == 0


def test_diff_shows_where_two_environments_differ(tmp_path):
    for name in ("a", "b"):
        assert invoke("sweep", *SMALL, "--out", tmp_path / name, "-q").exit_code == 0
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    b["environment"]["blas"][0]["kernel"] = "Sandybridge"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(b))
    table = pd.read_csv(io.StringIO(invoke("diff", tmp_path / "a", tmp_path / "b", "--all", "--format", "csv").stdout))
    rows = table[table["what"] == "environment"]
    assert len(rows) == 1 and "Sandybridge" in rows.iloc[0]["new"]
    default = invoke("diff", tmp_path / "a", tmp_path / "b")  # not a change of the results: said on stderr
    assert default.stdout == "" and "the environments differ in 1 part (blas[0].kernel): --all shows it" in \
        default.stderr


def test_pins_re_create_a_recorded_kernel_and_dispatch():
    here = record()
    recorded = json.loads(json.dumps(here))
    recorded["numpy"]["dispatch"] = recorded["numpy"]["dispatch"][:1]
    wanted = pins(recorded)
    assert wanted["OPENBLAS_CORETYPE"] == kernels(here)[0]
    left_out = set(here["numpy"]["targets"]) - set(recorded["numpy"]["dispatch"])
    assert set(wanted.get("NPY_DISABLE_CPU_FEATURES", "").split()) == left_out
    assert differences(here, here) == []
    # a dispatch line exactly when the two dispatch lists differ (a CPU numpy dispatches to one target only,
    # as numpy 2.4's X86_V3 on an AVX2 machine, keeps its whole list in the first element)
    changed = recorded["numpy"]["dispatch"] != here["numpy"]["dispatch"]
    assert any(line.startswith("numpy dispatch") for line in differences(recorded, here)) == changed
    assert pins({**recorded, "portable": True}) == PORTABLE[here["architecture"]]


@pytest.mark.slow
def test_verify_re_creates_the_recorded_kernel_and_native_fails_naming_both(tmp_path):
    made, other = two_kernels()
    ref = tmp_path / "ref"
    made_run = l2cli("sweep", *SMALL, "--out", ref, "-q", env={"OPENBLAS_CORETYPE": made})
    assert made_run.returncode == 0, made_run.stderr
    assert kernels(json.loads((ref / "manifest.json").read_text())["environment"])[0] == made
    exact = l2cli("verify", ref, env={"OPENBLAS_CORETYPE": other})
    assert exact.returncode == 0, exact.stderr
    assert "level exact holds" in exact.stderr
    native = l2cli("verify", ref, "--environment", "native", env={"OPENBLAS_CORETYPE": other})
    assert native.returncode == 1
    line = next(x for x in native.stderr.splitlines() if "OpenBLAS kernel" in x)
    assert f"recorded {made}" in line and f"here {other}" in line
    assert "verify FAILED" in native.stderr and "--level conclusions" in native.stderr


@pytest.mark.slow
def test_a_portable_run_verifies_exactly_under_another_kernel(tmp_path):
    _, other = two_kernels()
    ref = tmp_path / "portable"
    made = l2cli("sweep", *SMALL, "--portable", "--out", ref, "-q")
    assert made.returncode == 0, made.stderr
    env = json.loads((ref / "manifest.json").read_text())["environment"]
    assert env["portable"] is True and set(kernels(env)) == {PORTABLE[env["architecture"]]["OPENBLAS_CORETYPE"]}
    assert l2cli("verify", ref, env={"OPENBLAS_CORETYPE": other}).returncode == 0
    # a machine whose own kernels are the portable ones verifies it with nothing pinned at all
    native = l2cli("verify", ref, "--environment", "native", env=PORTABLE[env["architecture"]])
    assert native.returncode == 0, native.stderr
    # in a process whose numpy is loaded already, a portable sweep is done by a child process with the kernels
    result = invoke("sweep", *SMALL, "--portable", "--out", tmp_path / "child", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "child" / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()


@pytest.mark.slow
def test_conclusions_hold_across_kernels_where_exact_fails_and_fail_naming_the_lambda(tmp_path):
    made, other = two_kernels()
    ref = tmp_path / "ref"
    assert l2cli("sweep", "--epochs", "600", "--out", ref, "-q", env={"OPENBLAS_CORETYPE": made}).returncode == 0
    exact = l2cli("verify", ref, "--environment", "native", env={"OPENBLAS_CORETYPE": other})
    assert exact.returncode == 1
    held = l2cli("verify", ref, "--environment", "native", "--level", "conclusions", "--format", "csv",
                 env={"OPENBLAS_CORETYPE": other})
    assert held.returncode == 0, held.stderr
    checks = pd.read_csv(io.StringIO(held.stdout))
    # the choice, a per-seed and a mean check for each λ × metric, the two shape checks
    assert (checks["verdict"] == "pass").all() and len(checks) == 1 + 6 * 3 * 2 + 2
    assert "level conclusions holds" in held.stderr
    # another λ chosen: the recorded choice is not in the replay's 1-SE set
    chosen = shutil.copytree(ref, tmp_path / "chosen")
    selection = json.loads((chosen / "selection.json").read_text())
    selection["lambda"] = 1e-05
    (chosen / "selection.json").write_text(json.dumps(selection))
    failed = l2cli("verify", chosen, "--level", "conclusions", env={"OPENBLAS_CORETYPE": other})
    assert failed.returncode == 1 and "selected λ" in failed.stderr and "1-SE" not in failed.stderr
    assert "one-standard-error set" in failed.stderr
    # every seed's test loss moved at one λ: the paired mean fails
    moved = shutil.copytree(ref, tmp_path / "moved")
    summary = pd.read_csv(moved / "summary.csv")
    summary.loc[summary["lambda"] == 0.1, "test_loss"] *= 1.2
    summary.to_csv(moved / "summary.csv", index=False)
    failed = l2cli("verify", moved, "--level", "conclusions", "--environment", "native", "--format", "csv",
                   env={"OPENBLAS_CORETYPE": other})
    checks = pd.read_csv(io.StringIO(failed.stdout))
    bad = checks[checks["verdict"] == "fail"]
    assert failed.returncode == 1 and set(bad["lambda"]) == {0.1}
    assert set(bad["check"]) == {"test_loss per seed", "test_loss mean"} and "test_loss" in failed.stderr


#: five configurations, mini-batch and L-BFGS, classification and regression, one with cross-validation
REPLAYED = [
    ["--epochs", "300"],
    ["--dataset", "wine", "--hidden", "16", "--optimizer", "sgd", "--batch-size", "32", "--epochs", "60", "--lr",
     "0.05"],
    ["--dataset", "wine", "--hidden", "16", "--activation", "tanh", "--optimizer", "lbfgs"],
    ["--dataset", "diabetes", "--hidden", "32", "--batch-size", "64", "--epochs", "100"],
    ["--dataset", "breast_cancer", "--hidden", "8", "--optimizer", "lbfgs", "--cv", "3"],
]


@pytest.mark.slow  # 20 processes: about a minute
@pytest.mark.parametrize("seeds", ["0", "0,1,2,3,4"])
def test_replays_under_another_kernel_hold_their_conclusions(tmp_path, seeds):
    made, other = two_kernels()
    for k, args in enumerate(REPLAYED):
        ref = tmp_path / f"run{k}"
        run = l2cli("sweep", *args, "--seeds", seeds, "--lambdas", "1e-4,1e-2,1", "--set", "sweep.curvature=off",
                    "--out", ref, "-q", env={"OPENBLAS_CORETYPE": made})
        assert run.returncode == 0, run.stderr
        held = l2cli("verify", ref, "--environment", "native", "--level", "conclusions", "-q",
                     env={"OPENBLAS_CORETYPE": other})
        assert held.returncode == 0, (args, held.stdout[-3000:])


@pytest.mark.slow  # ~1 s of training; the suite's time budget keeps it for CI
def test_numbers_level_with_a_tolerance_in_test_points(tmp_path):
    out = tmp_path / "run"
    assert invoke("sweep", *SMALL, "--out", out, "-q").exit_code == 0
    n_test = json.loads((out / "manifest.json").read_text())["data"]["n_test"]
    summary = pd.read_csv(out / "summary.csv")
    summary.loc[0, "test_accuracy"] += 1 / n_test
    summary.to_csv(out / "summary.csv", index=False)
    assert invoke("verify", out).exit_code == 1
    assert invoke("verify", out, "--level", "numbers").exit_code == 1
    passed = invoke("verify", out, "--level", "numbers", "--tol", "test_accuracy=1/n_test")
    assert passed.exit_code == 0 and "level numbers holds" in passed.stderr
    assert invoke("verify", out, "--level", "numbers", "--tol", "test_accuracy=1/n_nope").exit_code == 2
    assert invoke("verify", out, "--tol", "test_accuracy=1/n_test").exit_code == 2  # --tol goes with numbers


@pytest.mark.slow  # ~0.6–1 s; the suite's time budget keeps it for CI
def test_format_json_is_a_document_in_every_outcome(tmp_path):
    out = tmp_path / "run"
    assert invoke("sweep", *SMALL, "--out", out, "-q").exit_code == 0
    ok = invoke("verify", out, "--format", "json")
    doc = json.loads(ok.stdout)
    assert ok.exit_code == 0 and doc["passed"] is True and doc["differences"] == [] and doc["level"] == "exact"
    summary = pd.read_csv(out / "summary.csv")
    summary.loc[0, "val_loss"] *= 1 + 1e-9
    summary.to_csv(out / "summary.csv", index=False)
    bad = invoke("verify", out, "--format", "json")
    doc = json.loads(bad.stdout)
    assert bad.exit_code == 1 and doc["passed"] is False and doc["differences"][0]["column"] == "val_loss"
    concluded = json.loads(invoke("verify", out, "--format", "json", "--level", "conclusions").stdout)
    assert concluded["passed"] is True and concluded["conclusions"]


@pytest.mark.slow  # ~1 s of training; the suite's time budget keeps it for CI
def test_a_relative_data_path_verifies_from_elsewhere_with_data(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "data" / "animals.csv", home / "data" / "animals.csv")
    monkeypatch.chdir(home)
    made = invoke("sweep", "--data", "data/animals.csv", "--target", "species", "--drop", "name", "--hidden", "8",
                  "--epochs", "30", "--lambdas", "1e-3,1", "--seeds", "0", "--out", "runs/a", "-q")
    assert made.exit_code == 0, made.output
    manifest = json.loads((home / "runs" / "a" / "manifest.json").read_text())
    assert manifest["data"]["path_relative_to_run"] == "../../data/animals.csv"
    moved = tmp_path / "elsewhere"
    shutil.copytree(home / "runs", moved / "runs")  # the run, without its data, and the data moved away
    (home / "data" / "animals.csv").rename(tmp_path / "animals.csv")
    monkeypatch.chdir(moved)
    lost = invoke("verify", "runs/a")
    assert lost.exit_code == 2 and "give its location with --data FILE" in lost.stderr
    found = invoke("verify", "runs/a", "--data", tmp_path / "animals.csv")
    assert found.exit_code == 0, found.output
    other = tmp_path / "other.csv"
    pd.read_csv(tmp_path / "animals.csv").iloc[:-1].to_csv(other, index=False)
    assert invoke("verify", "runs/a", "--data", other).exit_code == 2  # another file: its fingerprint differs
    rows = tmp_path / "rows.csv"
    pd.read_csv(tmp_path / "animals.csv").dropna().head(5).to_csv(rows, index=False)
    for args in (["plot", "runs/a", "--panel", "weights", "-o", "p.png", "--data", tmp_path / "animals.csv"],
                 ["predict", "runs/a", "--data", rows, "--run-data", tmp_path / "animals.csv"]):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    assert invoke("predict", "runs/a", "--data", rows).exit_code == 2  # the run's own data is not found
    # the run directory and its data moved together: found by the recorded relative path
    together = tmp_path / "together"
    (together / "data").mkdir(parents=True)
    shutil.copytree(moved / "runs", together / "runs")
    shutil.copy(tmp_path / "animals.csv", together / "data" / "animals.csv")
    monkeypatch.chdir(tmp_path)
    assert invoke("verify", together / "runs" / "a").exit_code == 0


def ci_recipe() -> list[str]:
    """The commands of the CI recipe as docs/long-runs-and-ci.md shows it, in order."""
    readme = (ROOT / "docs" / "long-runs-and-ci.md").read_text()
    block = readme.split("<!-- ci-recipe -->", 1)[1].split("<!-- /ci-recipe -->", 1)[0]
    lines = block.strip().removeprefix("```sh").removesuffix("```").strip().splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_docs_show_the_recipe_files_own_commands():
    script = [line.split("  #")[0].strip() for line in (ROOT / "docs" / "ci" / "reproducibility.sh").read_text()
              .splitlines()]
    shown = ci_recipe()
    assert shown and all(line in script for line in shown), [line for line in shown if line not in script]
    job = (ROOT / "docs" / "ci" / "github-actions.yml").read_text()
    assert "- run: bash docs/ci/reproducibility.sh" in job


@pytest.mark.slow
def test_the_ci_recipe_file_and_its_actions_job_run_verbatim_in_a_clean_clone(tmp_path):
    """As a project would: a clean clone, a fresh environment, the reference run made once as the script's
    header says, then the job's run steps verbatim (the install line included), twice: on this CPU's kernel,
    and on another, where the exact level still holds (the reference is portable) and the gate passes."""
    import re

    _, other = two_kernels()
    clone, venv, summary = tmp_path / "clone", tmp_path / "venv", tmp_path / "summary.md"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary)}
    env.pop("VIRTUAL_ENV", None)
    header = (clone / "docs" / "ci" / "reproducibility.sh").read_text()
    once = re.search(r"^#\s+(l2cli sweep .* --portable .*)$", header, re.MULTILINE).group(1)
    steps = re.findall(r"^\s*- run: (.+)$", (clone / "docs" / "ci" / "github-actions.yml").read_text(), re.MULTILINE)
    assert steps == ["bash docs/ci/reproducibility.sh"]

    def run(command, extra=None):
        done = subprocess.run(["bash", "-c", command], cwd=clone, env={**env, **(extra or {})}, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
        return done

    run("python -m pip install --quiet '.[plot]'")  # the machine that makes the reference has l2cli
    run(once)
    for extra in ({}, {"OPENBLAS_CORETYPE": other}):  # this CPU's kernel, then another: the job passes on both
        summary.unlink(missing_ok=True)
        done = run(steps[0], extra)
        assert "level exact holds" in done.stderr and "level conclusions holds" in done.stderr
        assert "no change crossed --fail-on" in done.stderr
        assert json.loads((clone / "verify.json").read_text())["passed"] is True
        assert "| config | sweep.portable" in (clone / "diff.md").read_text()
        assert summary.read_text().startswith("### l2cli: the new run against reference-runs/default")
        assert "\n# l2cli report: new-run\n" in summary.read_text() and "**Answer:** λ = " in summary.read_text()
        assert (clone / "report.html").read_text().count("<svg") >= 6  # the page, kept as an artifact


@pytest.mark.slow
def test_across_kernels_verify_fails_in_a_screen_and_diff_sees_no_change(tmp_path):
    """Two runs of one config on two OpenBLAS kernels: their last bits differ. verify --environment native
    fails in at most 60 lines; diff counts no change at its default level, and --exact shows the bits."""
    first, other = two_kernels()
    a, b = tmp_path / "a", tmp_path / "b"
    config = ["--hidden", "32,32", "--epochs", "300", "--lambdas", "1e-4,1e-3,1e-2,1e-1", "--seeds", "0,1,2"]
    assert l2cli("sweep", *config, "--out", a, "-q", env={"OPENBLAS_CORETYPE": first}).returncode == 0
    assert l2cli("sweep", *config, "--out", b, "-q", env={"OPENBLAS_CORETYPE": other}).returncode == 0
    done = l2cli("verify", a, "--environment", "native", env={"OPENBLAS_CORETYPE": other})
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    assert done.returncode == 1 and "verify FAILED" in done.stderr and len(lines) <= 60, (len(lines), done.stdout)
    assert "weights.npz" in done.stdout and "1.0000000000000001e" not in done.stdout and " nan" not in done.stdout
    quiet = l2cli("diff", a, b)
    assert quiet.returncode == 0 and quiet.stdout == "" and "no differences beyond the numbers level" in quiet.stderr
    exact = l2cli("diff", a, b, "--exact", "--format", "csv")
    assert "metric" in exact.stdout and "environment" in exact.stdout
