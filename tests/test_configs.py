"""The curated experiments in configs/ are valid, run, and show a λ chosen strictly inside their grid.

Running them takes about 20 s, so that test is marked slow (make test-all, CI); the default suite
checks that each one resolves and passes every validation rule.
"""

from pathlib import Path

import numpy as np
import pytest

from l2cli.config import resolve
from l2cli.sweeps.runner import run_experiment

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.toml"))


def test_the_curated_set_is_there():
    assert {p.stem for p in CONFIGS} >= {"default", "breast_cancer", "diabetes", "curve", "digits_adam"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_valid(path):
    cfg = resolve(path)
    cfg.validate()
    assert len(cfg.sweep.lambdas) >= 3 and cfg.data.val_size + cfg.sweep.cv > 0  # room to select inside the grid


_RUNS = {}


def run_of(path):
    """The run of a curated config, trained once per session."""
    if path not in _RUNS:
        _RUNS[path] = run_experiment(resolve(path))
    return _RUNS[path]


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_runs_and_selects_inside_the_grid(path):
    run = run_of(path)
    assert (run.summary["status"] != "diverged").all()
    lambdas = sorted(run.summary["lambda"].unique())
    chosen = run.selection["lambda"]
    assert lambdas[0] < chosen < lambdas[-1], f"{path.stem}: selected λ = {chosen} at the edge of the grid"
    agg = run.aggregate.sort_values("lambda")
    # weights shrink as λ grows, over the whole grid
    assert agg["weight_norm_mean"].iloc[0] > agg["weight_norm_mean"].iloc[-1]
    assert np.isfinite(agg["test_loss_mean"]).all()


@pytest.mark.slow
def test_the_decay_config_shows_where_coupled_l2_and_decoupled_decay_part():
    """configs/decay.toml, as the README tells it: under Adam, the coupled penalty is rescaled per parameter and
    collapses the network from λ ≈ 0.3 on, while decoupled decay shrinks every weight by 1 − 2ηλ per step, needs
    a far larger λ for the same effect, and lowers the norm smoothly; both reach a similar best validation loss."""
    agg = run_of(Path(__file__).resolve().parents[1] / "configs" / "decay.toml").aggregate
    l2, dec = (agg[agg["train.decay"] == d].set_index("lambda").sort_index() for d in ("l2", "decoupled"))
    assert (dec["weight_norm_mean"] > l2["weight_norm_mean"]).all()
    assert (l2.loc[l2.index >= 0.3, "weight_norm_mean"] < 0.01).all()
    assert (dec["weight_norm_mean"] > 1).all()
    best = {name: t["val_loss_mean"].idxmin() for name, t in (("l2", l2), ("decoupled", dec))}
    assert best["decoupled"] >= 30 * best["l2"]
    assert abs(l2["val_loss_mean"].min() - dec["val_loss_mean"].min()) < 0.05
