"""Runs written before a restructuring of the package, made again after it: every number of their summary,
history and weights the same (verify, with the recorded kernels re-created), and on a machine that runs the
recorded kernels, the same bytes. tests/data/house holds five small runs written on 2026-12-03 (commit
964e19c) before the folders: W1 and W2 in miniature (sgd), a warm L-BFGS path, a grid with 3-fold
cross-validation (momentum) and a decoupled-decay sweep."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from l2cli.machine.environment import kernels, pins, record

HOUSE = Path(__file__).parent / "data" / "house"
RUNS = sorted(p.name for p in HOUSE.iterdir())


@pytest.mark.slow  # five sweeps in new processes: about 20 s
@pytest.mark.parametrize("name", RUNS)
def test_a_run_written_before_the_restructuring_is_made_again_bit_for_bit(tmp_path, name):
    recorded = json.loads((HOUSE / name / "manifest.json").read_text())
    verified = subprocess.run([sys.executable, "-m", "l2cli", "verify", str(HOUSE / name), "-q"],
                              capture_output=True, text=True, timeout=600)
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr
    here = record()
    if kernels(here) != kernels(recorded["environment"]):
        pytest.skip("bytes: this machine runs other BLAS kernels than the recorded ones (the numbers were verified)")
    argv = recorded["command"][1:]
    out = tmp_path / name
    argv[argv.index("--out") + 1] = str(out)
    env = {**os.environ, **pins(recorded["environment"])}
    made = subprocess.run([sys.executable, "-m", "l2cli", *argv], capture_output=True, text=True, timeout=600,
                          env=env)
    assert made.returncode == 0, made.stderr
    for file in ("summary.csv", "history.csv", "weights.npz", "cv.csv"):
        if (HOUSE / name / file).exists():
            assert (out / file).read_bytes() == (HOUSE / name / file).read_bytes(), file
