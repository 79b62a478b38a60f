"""The pictures of L2 drawn from the models themselves: decision boundaries, fitted curves, weight histograms.

Each function draws on axes it is given and reads a run rebuilt by
:mod:`l2cli.tools.reload` (data checked against the run's fingerprint, weights from
weights.npz). Models are drawn for one seed (``seed``), at every λ of the grid
for the boundary maps and the fitted curves, at a few λ across it for the
weight histograms. A diverged model is never left out silently: its map is
crossed out, its curve or histogram named in the legend as not drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps

from ..tools.reload import Reloaded, fitted_recipe, model_params, model_row, predicted_classes, predictions
from .style import cell_label, lambda_colors, lambda_key, legend_outside

#: the true function of a built-in dataset, where it has one (drawn under the fitted curves)
TRUTH = {"curve": lambda x: np.sin(2 * np.pi * x)}
CLASS_COLORS = colormaps["tab10"]


def plain_features(exp) -> bool:
    """Whether the run's inputs are numeric columns scaled by a StandardScaler alone (invertible)."""
    recipe = exp.split.recipe
    return not recipe.text and recipe.impute is None


def boundary_cells(reloaded: Reloaded) -> list[int]:
    """The grid cells whose maps can be drawn: classification on 2 numeric input columns."""
    return [k for k, exp in enumerate(reloaded.experiments)
            if exp.split.task == "classification" and exp.split.raw_train.shape[1] == 2 and plain_features(exp)]


def fit_cells(reloaded: Reloaded) -> list[int]:
    """The grid cells whose fitted curves can be drawn: regression on 1 numeric input column."""
    return [k for k, exp in enumerate(reloaded.experiments)
            if exp.split.task == "regression" and exp.split.raw_train.shape[1] == 1 and plain_features(exp)]


def raw_parts(exp) -> dict[str, pd.DataFrame]:
    """The train and test rows in the run's own units (the scaling undone), as DataFrames of raw columns."""
    columns = list(exp.split.raw_train.columns)
    test = pd.DataFrame(fitted_recipe(exp).inverse_transform(exp.split.X_test.astype(np.float64)), columns=columns)
    return {"train": exp.split.raw_train, "test": test}


def grid_frame(parts: dict[str, pd.DataFrame], steps: int = 160) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """A steps × steps grid over the rows of every part with a 10 % margin: (xx, yy, its points as raw rows)."""
    rows = pd.concat(parts.values())
    columns = list(rows.columns)
    low, high = rows.min().to_numpy(float), rows.max().to_numpy(float)
    pad = 0.1 * (high - low)
    xx, yy = np.meshgrid(np.linspace(low[0] - pad[0], high[0] + pad[0], steps),
                         np.linspace(low[1] - pad[1], high[1] + pad[1], steps))
    return xx, yy, pd.DataFrame({columns[0]: xx.ravel(), columns[1]: yy.ravel()})


def cross_out(ax, title: str) -> None:
    """A model that diverged: an X across its axes and the word in the title."""
    ax.plot([0, 1], [0, 1], color="crimson", lw=2, transform=ax.transAxes)
    ax.plot([0, 1], [1, 0], color="crimson", lw=2, transform=ax.transAxes)
    ax.set_title(title, fontsize=8, color="crimson")


def draw_boundaries(axes, reloaded: Reloaded, cells: list[int], lambdas: list[float], seed: int | None) -> None:
    """One map per (grid cell, λ): the predicted class regions, training (filled) and test (hollow) points,
    λ and the test accuracy in the title. ``axes`` is a (len(cells), len(lambdas)) array."""
    run = reloaded.run
    for r, k in enumerate(cells):
        exp = reloaded.experiments[k]
        parts = raw_parts(exp)
        xx, yy, points = grid_frame(parts)
        n_classes = len(exp.split.classes)
        for c, lam in enumerate(lambdas):
            ax = axes[r][c]
            index = model_row(run, lam, seed, run.manifest["cells"][k]["axes"])
            row = run.summary.iloc[index]
            ax.set_xticks([])
            ax.set_yticks([])
            if row["status"] == "diverged":
                cross_out(ax, f"λ={lam:g}: diverged")
                continue
            regions = predicted_classes(exp, model_params(run, index), points).reshape(xx.shape)
            ax.contourf(xx, yy, regions, levels=np.arange(n_classes + 1) - 0.5, cmap=CLASS_COLORS, vmin=-0.5,
                        vmax=9.5, alpha=0.3)
            shown = ((parts["train"], exp.split.y_train, False), (parts["test"], exp.split.y_test, True))
            for part, y, hollow in shown:
                colour = CLASS_COLORS(np.searchsorted(exp.split.classes, y))
                style = {"facecolors": "none", "edgecolors": colour} if hollow else {"c": colour, "edgecolors": "k"}
                ax.scatter(part.iloc[:, 0], part.iloc[:, 1], s=9, linewidths=0.4, **style)
            ax.set_title(f"λ={lam:g}  test acc {row['test_accuracy']:.2f}", fontsize=8)
        if run.manifest["cells"][k]["axes"]:
            axes[r][0].set_ylabel(cell_label(run.manifest["cells"][k]["axes"], wrap=20), fontsize=8)


def draw_fits(ax, reloaded: Reloaded, k: int, lambdas: list[float], seed: int | None) -> None:
    """The fitted function of every λ over the training (filled) and test (hollow) points, on a sequential
    colour map from the smallest λ (dark) to the largest (light); the true function, dashed, where known."""
    run, exp = reloaded.run, reloaded.experiments[k]
    parts = raw_parts(exp)
    column = exp.split.raw_train.columns[0]
    rows = pd.concat(parts.values())[column]
    x = pd.DataFrame({column: np.linspace(rows.min(), rows.max(), 400)})
    ax.scatter(parts["train"][column], exp.split.y_train, s=14, color="k", zorder=3, label="training rows")
    ax.scatter(parts["test"][column], exp.split.y_test, s=14, facecolors="none", edgecolors="0.5", zorder=3,
               label="test rows")
    truth = TRUTH.get(run.manifest.get("data", {}).get("name", ""))
    if truth is not None:
        ax.plot(x[column], truth(x[column].to_numpy()), "k--", lw=1, label="true function")
    barred = lambda_key(ax, lambdas)
    for lam, color in zip(lambdas, lambda_colors(lambdas), strict=True):
        index = model_row(run, lam, seed, run.manifest["cells"][k]["axes"])
        if run.summary.iloc[index]["status"] == "diverged":
            ax.plot([], [], color="crimson", label=f"λ={lam:g}: diverged (not drawn)")
            continue
        fitted = predictions(exp, model_params(run, index), x)["predicted"]
        ax.plot(x[column], fitted, color=color, lw=1.5, label=None if barred else f"λ={lam:g}")
    low, high = np.percentile(np.concatenate([exp.split.y_train, exp.split.y_test]), [0, 100])
    pad = 0.5 * (high - low)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel(column)
    ax.set_ylabel(run.manifest["config"]["data"].get("target") or "y")
    ax.set_title("fitted function per λ")
    legend_outside(ax, columns=3)


def draw_weights(ax, run, lambdas: list[float], seed: int | None, cell: dict, most: int = 4) -> None:
    """The distribution (density) of every weight of the model at up to ``most`` λ spread across the grid:
    L2 pulls it towards zero, a Gaussian prior of variance 1/(2λ) per weight in the Bayesian reading."""
    chosen = [lambdas[i] for i in sorted(set(np.linspace(0, len(lambdas) - 1, min(most, len(lambdas))).round()
                                             .astype(int)))]
    values, notes = {}, []
    for lam in chosen:
        index = model_row(run, lam, seed, cell)
        w = np.concatenate([W.ravel() for W in model_params(run, index).W]).astype(np.float64)
        if run.summary.iloc[index]["status"] == "diverged" or not np.isfinite(w).all():
            notes.append(lam)
        else:
            values[lam] = w
    reach = max((np.percentile(np.abs(w), 99.5) for w in values.values()), default=1.0) or 1.0
    bins = np.linspace(-reach, reach, 81)
    cmap = colormaps["viridis"]
    for i, (lam, w) in enumerate(values.items()):
        ax.hist(w, bins=bins, density=True, histtype="step", lw=1.5, color=cmap(i / max(len(chosen) - 1, 1)),
                label=f"λ={lam:g}  (std {w.std():.3g})")
    for lam in notes:
        ax.plot([], [], color="crimson", label=f"λ={lam:g}: diverged (not drawn)")
    ax.set_yscale("log")
    ax.set_xlabel("weight value (every W_l)")
    ax.set_ylabel("density")
    ax.set_title("weights per λ")
    legend_outside(ax)
