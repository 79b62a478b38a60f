"""The curated experiments in configs/ are valid, run, and show a λ chosen strictly inside their grid."""

from pathlib import Path

import numpy as np
import pytest

from l2cli.config import resolve
from l2cli.runner import run_experiment

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.toml"))


def test_the_curated_set_is_there():
    assert {p.stem for p in CONFIGS} >= {"default", "breast_cancer", "diabetes", "curve", "digits_adam"}


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
