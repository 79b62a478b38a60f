import os

import numpy as np
import pytest

from l2cli.maths.network import init_params
from l2cli.training.train import init_rng


def make_spec(activation="relu", loss="cross_entropy", reduction="mean", penalize_bias=False):
    """An objective's Spec, with the declared model.* defaults where a test does not care."""
    from l2cli.maths.objective import Spec

    return Spec(activation, loss, reduction, penalize_bias)


def schedule(**keys):
    """A Schedule of the declared [train] defaults with ``keys`` set (the way l2cli builds one from a config)."""
    from l2cli.config import TrainConfig
    from l2cli.sweeps.experiment import schedule_of

    return schedule_of(TrainConfig(**keys))


def make_params(layer_sizes, seeds=(0, 1), init="glorot", dtype=np.float64, bias_scale=0.1):
    """A stack of small random nets with non-zero biases."""
    p = init_params(tuple(layer_sizes), [init_rng(s) for s in seeds], init, dtype)
    rng = np.random.default_rng(123)
    for b in p.b:
        b += bias_scale * rng.standard_normal(b.shape)
    return p


@pytest.fixture(autouse=True)
def _fresh_working_directory(tmp_path, monkeypatch):
    """Every test runs in an empty directory of its own: none may depend on the working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def sweep(cfg):
    """Train every point of a config's sweep (no grid, no cross-validation): (experiment, engine.Trained)."""
    from l2cli.sweeps.engine import run_points
    from l2cli.sweeps.experiment import compute, prepare
    from l2cli.training.plan import points

    exp = prepare(cfg)
    return exp, run_points(exp, points(cfg.sweep.lambdas, cfg.sweep.seeds), compute(cfg))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def reference_torch():
    """PyTorch, the reference of the optimizer tests. CI sets L2CLI_REQUIRE_TORCH=1 (make test installs torch with
    the test extras): there a missing reference is a failure, not a skip."""
    if os.environ.get("L2CLI_REQUIRE_TORCH"):
        import torch

        return torch
    return pytest.importorskip("torch")


def flags(base, *args, drop=()):
    """The command-line arguments ``base`` with each '--flag value' of ``args`` put in place of the same flag in
    base (l2cli refuses an option given twice), the others appended; ``drop``: flags (with their values) left
    out."""
    out, i = [], 0
    given = {a for a in args if isinstance(a, str) and a.startswith("--")}
    while i < len(base):
        if base[i] in given or base[i] in drop:
            i += 2
            continue
        out.append(base[i])
        i += 1
    return [*out, *args]


def invoke(*args, **kw):
    """The CLI in this process (click's test runner), every argument as text; click's Result."""
    from click.testing import CliRunner

    from l2cli.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


#: A run small enough to make in a fraction of a second: the fault tests' subject.
QUICK = ["--hidden", "4", "--epochs", "4", "--lambdas", "0,0.1", "--seeds", "0,1"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A finished QUICK run, made once per module (tests copy it before they change it)."""
    out = tmp_path_factory.mktemp("pristine") / "run"
    result = invoke("sweep", *QUICK, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A QUICK run killed after its first finished chunk: a progress folder with a plan, chunks and checkpoints."""
    import signal
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("interrupted") / "run"
    proc = subprocess.run([sys.executable, "-m", "l2cli", "sweep", *QUICK, "--set", "sweep.chunk_size=1", "--set",
                           "sweep.workers=1", "--set", "sweep.checkpoint_s=0", "--out", str(out), "-q"],
                          env={**os.environ, "L2CLI_FAULT": "chunk-write:2"}, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL and (out / ".progress" / "plan.json").is_file()
    assert any((out / ".progress" / "checkpoints").iterdir()) and any((out / ".progress" / "chunks").iterdir())
    return out
