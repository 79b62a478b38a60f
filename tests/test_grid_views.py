"""The two-axis views of a grid: the pivot table (show --pivot) against a hand computation from aggregate.csv,
a NaN kept, the heatmap and across panels drawing exactly those numbers, and one-line refusals."""

import io

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

from l2cli.rundir.formats import pivot
from l2cli.rundir.run import Run

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("views") / "run"
    result = invoke("sweep", "--dataset", "teacher", "--set", "data.n_features=8", "--set", "model.hidden=[]",
                    "--set", "model.loss=squared", "--optimizer", "lbfgs", "--lambdas", "1e-3,0.1,10", "--seeds", "0,1",
                    "--grid", "data.n_train=6,8,12,30", "--grid", "data.seed=0,1", "--set", "sweep.curvature=off",
                    "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return Run.load(out)


def test_the_pivot_is_the_mean_over_the_other_keys_of_each_cells_mean(grid):
    agg = grid.aggregate
    table = pivot(agg, "data.n_train", "test_loss")
    assert list(table.index) == [6, 8, 12, 30] and list(table.columns) == [1e-3, 0.1, 10]
    for n in (6, 30):
        for lam in (1e-3, 10):
            cells = agg[(agg["data.n_train"] == n) & (agg["lambda"] == lam)]["test_loss_mean"]
            assert len(cells) == 2 and table.loc[n, lam] == pytest.approx(cells.mean(), rel=1e-15)


def test_a_nan_stays_nan_in_the_pivot(grid):
    agg = grid.aggregate.copy()
    agg.loc[(agg["data.n_train"] == 8) & (agg["data.seed"] == 1) & (agg["lambda"] == 0.1), "test_loss_mean"] = np.nan
    table = pivot(agg, "data.n_train", "test_loss")
    assert np.isnan(table.loc[8, 0.1]) and np.isfinite(table.drop(index=8).to_numpy()).all()


def test_show_pivot_prints_the_table(grid):
    result = invoke("show", grid.path, "--pivot", "data.seed", "--metric", "weight_norm", "--format", "csv")
    assert result.exit_code == 0, result.output
    shown = pd.read_csv(io.StringIO(result.output))
    assert list(shown.columns) == ["data.seed", "λ=0.001", "λ=0.1", "λ=10"]
    expected = pivot(grid.aggregate, "data.seed", "weight_norm")
    np.testing.assert_allclose(shown.iloc[:, 1:].to_numpy(), expected.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize(("args", "message"), [
    (["--pivot", "train.lr"], "not a grid key"), (["--pivot", "data.seed", "--metric", "loss"], "not a metric"),
    (["--metric", "test_loss"], "--metric goes with --pivot"), (["--pivot", "data.seed", "--history"], "of its own")])
def test_show_pivot_refuses_in_one_line(grid, args, message):
    result = invoke("show", grid.path, *args)
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_the_panels_draw_the_pivots_numbers(grid):
    from matplotlib.figure import Figure

    from l2cli.plot.figure import draw_panel

    fig = Figure(figsize=(12, 5))
    draw_panel(fig, grid, None, "heatmap")
    maps = [ax for ax in fig.get_axes() if ax.images]
    assert [ax.get_title() for ax in maps] == ["seed=0", "seed=1"]  # a map per value of the key with fewer values
    for ax, seed in zip(maps, (0, 1), strict=True):  # rows: n_train, the key with the most values; columns: λ
        expected = pivot(grid.aggregate[grid.aggregate["data.seed"] == seed], "data.n_train", "test_loss")
        np.testing.assert_allclose(ax.images[0].get_array().data, expected.to_numpy(), rtol=1e-12)
    fig = Figure(figsize=(8, 5))
    draw_panel(fig, grid, None, "across")
    ax = fig.get_axes()[0]
    best = [line for line in ax.get_lines() if line.get_label() == "the best λ at each x"][0]
    table = pivot(grid.aggregate, "data.n_train", "test_loss")
    np.testing.assert_allclose(best.get_xdata(), [6, 8, 12, 30])
    np.testing.assert_allclose(best.get_ydata(), table.min(axis=1).to_numpy(), rtol=1e-12)


def test_the_views_apply_to_grids_only(tmp_path, grid):
    result = invoke("sweep", "--epochs", "5", "--lambdas", "0,1", "--seeds", "0", "--out", tmp_path / "one", "-q")
    assert result.exit_code == 0
    for panel in ("heatmap", "across", "evidence"):
        refused = invoke("plot", tmp_path / "one", "--panel", panel)
        assert refused.exit_code == 2 and "the run has none" in refused.output, panel
    words = invoke("sweep", "--epochs", "5", "--lambdas", "0,1", "--seeds", "0", "--grid", "model.hidden=[4],[8]",
                   "--out", tmp_path / "words", "-q")
    assert words.exit_code == 0
    refused = invoke("plot", tmp_path / "words", "--panel", "across")
    assert refused.exit_code == 2 and "model.hidden, which needs at least 3 numbers" in refused.output
