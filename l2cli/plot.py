"""The picture of a run: loss and weight norm against λ, and learning curves. Needs matplotlib."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


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


def plot_run(files, path: str | Path) -> Path:
    """Write a PNG with three panels for the run ``files`` (see :func:`l2cli.results.read_run`)."""
    agg, hist, sel, axes = files.aggregate, files.history, files.selection, files.axes
    groups = [agg] if not axes else [g for _, g in agg.groupby(axes, sort=False)]
    fig, (ax_loss, ax_norm, ax_curve) = plt.subplots(1, 3, figsize=(16, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, g in enumerate(groups):
        g = g.sort_values("lambda")
        tag = "" if not axes else " (" + ", ".join(f"{a}={g[a].iloc[0]}" for a in axes) + ")"
        style = ["-", "--", ":", "-."][k % 4]
        _band(ax_loss, g, "train_loss", "train" + tag, colors[0], style)
        _band(ax_loss, g, "val_loss", "validation" + tag, colors[2], style)
        _band(ax_loss, g, "test_loss", "test" + tag, colors[1], style)
        _band(ax_norm, g, "weight_norm", "‖W‖" + tag, colors[3], style)
    for ax in (ax_loss, ax_norm):
        ax.set_xscale("log")
        ax.set_xlabel("λ")
        _, zero_at = _x(agg["lambda"])
        if zero_at is not None:
            ax.axvline(zero_at, color="0.85", lw=0.8)
            ax.annotate("λ=0", (zero_at, 1), xycoords=("data", "axes fraction"), fontsize=8,
                        ha="center", va="bottom")
        if sel.get("lambda") is not None:
            x_sel = sel["lambda"] if sel["lambda"] > 0 else _x(agg["lambda"])[1]
            ax.axvline(x_sel, color="k", ls="--", lw=1, label=f"selected λ = {sel['lambda']:g}")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("data loss (mean over seeds, 95 % CI)")
    ax_loss.set_title("loss against λ")
    ax_loss.legend(fontsize=8)
    ax_norm.set_yscale("log")
    ax_norm.set_ylabel("weight norm √Σ‖W_l‖²")
    ax_norm.set_title("weight norm against λ")
    ax_norm.legend(fontsize=8)

    first = hist if not axes else hist.merge(groups[0][axes].drop_duplicates(), on=axes)
    curves = first.groupby(["lambda", "epoch"], sort=True)[["train_loss", "test_loss"]].mean().reset_index()
    lambdas = sorted(curves["lambda"].unique())
    cmap = plt.get_cmap("viridis")
    for i, lam in enumerate(lambdas):
        c = curves[curves["lambda"] == lam]
        color = cmap(i / max(len(lambdas) - 1, 1))
        ax_curve.plot(c["epoch"], c["test_loss"], color=color, label=f"λ={lam:g}")
        ax_curve.plot(c["epoch"], c["train_loss"], color=color, ls=":", lw=0.8)
    ax_curve.set_yscale("log")
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("test loss (solid), train loss (dotted)")
    ax_curve.set_title("learning curves" + ("" if not axes else " (first grid cell)"))
    ax_curve.legend(fontsize=7, ncol=2)
    name = files.manifest.get("data", {}).get("name", "")
    fig.suptitle(f"{files.path.name}: {name}, {len(files.summary)} models")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
