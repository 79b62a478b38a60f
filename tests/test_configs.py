"""The curated experiments in configs/ are valid, run, and show a λ chosen strictly inside their grid.

Running them takes about 20 s, so that test is marked slow (make test-all, CI); the default suite
checks that each one resolves and passes every validation rule.
"""

from pathlib import Path

import numpy as np
import pytest

from l2cli.config import resolve
from l2cli.runner import run_experiment

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.toml"))


def test_the_curated_set_is_there():
    assert {p.stem for p in CONFIGS} >= {"default", "breast_cancer", "diabetes", "curve", "digits_adam"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_valid(path):
    cfg = resolve(path)
    cfg.validate()
    assert len(cfg.sweep.lambdas) >= 3 and cfg.data.val_size + cfg.sweep.cv > 0  # room to select inside the grid


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_runs_and_selects_inside_the_grid(path):
    run = run_experiment(resolve(path))
    assert (run.summary["status"] != "diverged").all()
    lambdas = sorted(run.summary["lambda"].unique())
    chosen = run.selection["lambda"]
    assert lambdas[0] < chosen < lambdas[-1], f"{path.stem}: selected λ = {chosen} at the edge of the grid"
    agg = run.aggregate.sort_values("lambda")
    # weights shrink as λ grows, over the whole grid
    assert agg["weight_norm_mean"].iloc[0] > agg["weight_norm_mean"].iloc[-1]
    assert np.isfinite(agg["test_loss_mean"]).all()
