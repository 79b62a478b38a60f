"""The picture of a run: loss and weight norm against λ, and learning curves. Needs matplotlib.

The figure is drawn on its own Agg canvas (``matplotlib.figure.Figure``), not
through pyplot: importing this module leaves the caller's matplotlib backend
and pyplot state as they were.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps, rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _x(lam: pd.Series) -> tuple[np.ndarray, float | None]:
    """λ on a log axis; λ = 0 is drawn one decade left of the smallest positive λ."""
    lam = lam.to_numpy(dtype=float)
    positive = lam[lam > 0]
    zero_at = positive.min() / 10 if len(positive) else 1.0
    return np.where(lam > 0, lam, zero_at), (zero_at if (lam == 0).any() else None)


def _band(ax, frame, column, label, color, style="-"):
    if f"{column}_mean" not in frame or frame[f"{column}_mean"].isna().all():
        return
    x, _ = _x(frame["lambda"])
    mean = frame[f"{column}_mean"].to_numpy(float)
    ax.plot(x, mean, style, color=color, marker="o", ms=3, label=label)
    ci = frame.get(f"{column}_ci95")
    if ci is not None and ci.notna().any():
        ci = ci.fillna(0).to_numpy(float)
        low = np.maximum(mean - ci, mean / 10)  # a log axis: keep the band's lower edge positive
        ax.fill_between(x, low, mean + ci, color=color, alpha=0.2, lw=0)


def _lambda_axis(ax, agg: pd.DataFrame, selection: dict) -> None:
    """Log λ axis with the λ = 0 marker and the selected λ."""
    ax.set_xscale("log")
    ax.set_xlabel("λ")
    _, zero_at = _x(agg["lambda"])
    if zero_at is not None:
        ax.axvline(zero_at, color="0.85", lw=0.8)
        ax.annotate("λ=0", (zero_at, 1), xycoords=("data", "axes fraction"), fontsize=8, ha="center", va="bottom")
    if selection.get("lambda") is not None:
        x_sel = selection["lambda"] if selection["lambda"] > 0 else zero_at
        ax.axvline(x_sel, color="k", ls="--", lw=1, label=f"selected λ = {selection['lambda']:g}")


def _against_lambda(ax_loss, ax_norm, cells: list[pd.DataFrame], keys: list[str]) -> None:
    """Loss and weight norm against λ, one line style per grid cell."""
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    for k, cell in enumerate(cells):
        cell = cell.sort_values("lambda")
        tag = "" if not keys else " (" + ", ".join(f"{a}={cell[a].iloc[0]}" for a in keys) + ")"
        style = ["-", "--", ":", "-."][k % 4]
        _band(ax_loss, cell, "train_loss", "train" + tag, colors[0], style)
        _band(ax_loss, cell, "val_loss", "validation" + tag, colors[2], style)
        _band(ax_loss, cell, "test_loss", "test" + tag, colors[1], style)
        _band(ax_norm, cell, "weight_norm", "‖W‖" + tag, colors[3], style)
    for ax, ylabel, title in ((ax_loss, "data loss (mean over seeds, 95 % CI)", "loss against λ"),
                              (ax_norm, "weight norm √Σ‖W_l‖²", "weight norm against λ")):
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)


def _learning_curves(ax, history: pd.DataFrame, first_cell: pd.DataFrame | None, keys: list[str]) -> None:
    """Test (solid) and train (dotted) loss against epoch per λ, mean over seeds, first grid cell."""
    hist = history if not keys else history.merge(first_cell[keys].drop_duplicates(), on=keys)
    curves = hist.groupby(["lambda", "epoch"], sort=True)[["train_loss", "test_loss"]].mean().reset_index()
    lambdas = sorted(curves["lambda"].unique())
    cmap = colormaps["viridis"]
    for i, lam in enumerate(lambdas):
        c = curves[curves["lambda"] == lam]
        color = cmap(i / max(len(lambdas) - 1, 1))
        ax.plot(c["epoch"], c["test_loss"], color=color, label=f"λ={lam:g}")
        ax.plot(c["epoch"], c["train_loss"], color=color, ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test loss (solid), train loss (dotted)")
    ax.set_title("learning curves" + ("" if not keys else " (first grid cell)"))
    ax.legend(fontsize=7, ncol=2)


def _coefficient_path(ax, features: pd.DataFrame, agg: pd.DataFrame, keys: list[str], most: int = 12) -> None:
    """Each input's ‖W1[j,:]‖ against λ (mean over seeds, first grid cell): the ridge path. With many
    inputs, the ``most`` largest at the smallest λ."""
    if keys:
        features = features.merge(agg[keys].drop_duplicates().head(1), on=keys)
    mean = features.groupby(["feature", "lambda"], sort=False)["norm"].mean().unstack("feature")
    mean = mean.sort_index()
    shown = mean.iloc[0].sort_values(ascending=False).index[:most]
    x, _ = _x(pd.Series(mean.index))
    cmap = colormaps["tab20"]
    for i, name in enumerate(shown):
        ax.plot(x, mean[name].to_numpy(float), marker="o", ms=2.5, color=cmap(i % 20), label=str(name))
    ax.set_xscale("log")
    ax.set_xlabel("λ")
    ax.set_ylabel("‖W1[j,:]‖ (mean over seeds)")
    more = f" ({most} largest of {mean.shape[1]})" if mean.shape[1] > most else ""
    ax.set_title(f"coefficient path per input{more}")
    ax.legend(fontsize=6, ncol=2)


def plot_run(run, path: str | Path) -> Path:
    """Write a PNG for ``run`` (an l2cli.rundir.Run): loss and weight norm against λ, learning curves and,
    when the run has features.csv, the coefficient path."""
    agg, keys = run.aggregate, run.grid_keys
    cells = [agg] if not keys else [c for _, c in agg.groupby(keys, sort=False)]
    panels = 3 if run.features is None else 4
    fig = Figure(figsize=(5.4 * panels, 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    ax_loss, ax_norm, ax_curve = axes[:3]
    if panels == 4:
        _coefficient_path(axes[3], run.features, agg, keys)
    _against_lambda(ax_loss, ax_norm, cells, keys)
    for ax in (ax_loss, ax_norm):
        _lambda_axis(ax, agg, run.selection)
        ax.legend(fontsize=8)
    _learning_curves(ax_curve, run.history, cells[0], keys)
    name = run.manifest.get("data", {}).get("name", "")
    fig.suptitle(f"{run.path.name}: {name}, {len(run.summary)} models")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
