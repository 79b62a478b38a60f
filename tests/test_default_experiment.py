"""The default experiment shows the L2 trade-off on every seed."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from l2cli.cli import cli
from l2cli.config import Config, resolve


def test_default_toml_is_the_built_in_default():
    assert resolve(Path(__file__).resolve().parents[1] / "configs" / "default.toml") == Config()


@pytest.mark.slow  # 4 s: the default suite stays under 60 s
def test_default_experiment_shows_the_tradeoff_on_every_seed(tmp_path):
    out = tmp_path / "default"
    result = CliRunner().invoke(cli, ["sweep", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 6 * 5 and (summary["status"] == "completed").all()
    for seed, runs in summary.groupby("seed"):
        runs = runs.sort_values("lambda")
        assert np.all(np.diff(runs["train_loss"]) > 0), f"seed {seed}: train loss must rise with λ"
        assert np.all(np.diff(runs["weight_norm"]) < 0), f"seed {seed}: weight norm must fall as λ grows"
        best = int(np.argmin(runs["test_loss"]))
        assert 0 < best < len(runs) - 1, f"seed {seed}: test loss minimum must be inside the grid"
    selection = json.loads((out / "selection.json").read_text())
    lambdas = sorted(summary["lambda"].unique())
    assert selection["source"] == "validation split"
    assert lambdas[0] < selection["lambda"] < lambdas[-1]
    assert set(summary.loc[summary["selected"], "lambda"]) == {selection["lambda"]}
    smallest = summary[summary["lambda"] == summary["lambda"].min()]
    largest = summary[summary["lambda"] == summary["lambda"].max()]
    assert (smallest["train_loss"] < 1e-3).all()  # λ too small: training points fitted
    assert (largest["weight_norm"] < 0.1).all()  # λ too large: weights near zero
