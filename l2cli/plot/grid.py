"""The two-axis views of a grid: a metric over λ × a grid key (heatmap), and a metric against a grid key with one
line per λ (across). Both read aggregate.csv through l2cli.rundir.formats.pivot.

    heatmap   the metric (mean over seeds) over λ (columns) × the grid key with the most values (rows; the later
              key on a tie), one map per value of the other grid keys, or their mean when that would be more
              than MAPS_MOST maps; each row's best λ ringed, the selected cell boxed, a NaN cell named
    across    the metric against the first grid key (a number: n_train, a width, a learning rate), one line per λ,
              averaged over the other grid keys with a 95 % band over them (or over the seeds, without others),
              and the best λ at each x as a black line: the curve of the optimally regularized model
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.patches import Rectangle

from ..rundir.formats import pivot
from .style import cell_label, lambda_colors, lambda_key, legend_outside, plain, short_keys

#: the metric both views show unless asked otherwise
METRIC = "test_loss"
#: cells annotated with their value up to this many (beyond, the colour bar alone says it)
ANNOTATE_MOST = 120
#: the most maps side by side; beyond, the other grid keys are averaged over
MAPS_MOST = 4


def heatmap_keys(run) -> tuple[str, list[str], list[dict]]:
    """(the rows' key, the other keys, one combination of their values per map: [{}] when averaged over)."""
    keys = run.grid_keys
    count = {k: len(run.manifest.get("config", {}).get("grid", {}).get(k, [])) for k in keys}
    row_key = max(keys, key=lambda k: (count[k], keys.index(k)))
    others = [k for k in keys if k != row_key]
    combos = facets(run, others)
    return row_key, others, combos if len(combos) <= MAPS_MOST else [{}]


def numeric_axis(run, key: str) -> bool:
    """Whether a grid key's values are numbers (an x-axis for across), at least three of them."""
    values = run.manifest.get("config", {}).get("grid", {}).get(key, [])
    return len(values) >= 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def facets(run, keys: list[str]) -> list[dict]:
    """The combinations of ``keys``' values, in the grid's order (one empty one without keys)."""
    seen = {}
    for cell in run.manifest["cells"]:
        combo = {k: cell["axes"][k] for k in keys}
        seen.setdefault(repr(combo), combo)
    return list(seen.values())


def rows_of(agg: pd.DataFrame, combo: dict) -> pd.DataFrame:
    for key, value in combo.items():
        agg = agg[agg[key].astype(str) == str(value)]
    return agg


def heatmap_size(run) -> tuple[float, float]:
    """Inches (width, height) that give each cell of the maps room for its number: half an inch per λ, a third
    of an inch per row."""
    row_key, _, combos = heatmap_keys(run)
    lambdas, rows = run.aggregate["lambda"].nunique(), run.aggregate[row_key].nunique()
    return 1.2 + len(combos) * (1.4 + 0.5 * lambdas), 2.6 + 0.32 * rows


def draw_heatmap(figure, run, metric: str = METRIC) -> None:
    """The heatmaps (see the module docstring), one axes per combination of the other grid keys."""
    row_key, others, combos = heatmap_keys(run)
    axes = figure.subplots(1, len(combos), squeeze=False)[0]
    tables = [pivot(rows_of(run.aggregate, c), row_key, metric) for c in combos]
    values = np.concatenate([t.to_numpy(float).ravel() for t in tables])
    finite = values[np.isfinite(values)]
    log = len(finite) and finite.min() > 0 and finite.max() / finite.min() > 10
    norm = (LogNorm if log else Normalize)(*(finite.min(), finite.max()) if len(finite) else (0, 1))
    image = None
    for ax, combo, table in zip(axes, combos, tables, strict=True):
        image = heat(ax, table, norm, run.selection, combo, row_key)
        if combo:
            ax.set_title(cell_label(combo, wrap=40), fontsize=9)
    bar = figure.colorbar(image, ax=list(axes), fraction=0.04, pad=0.02)
    bar.set_label(f"{metric.replace('_', ' ')} (mean over seeds)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    mean = f" (mean over {', '.join(short_keys(others).values())})" if others and combos == [{}] else ""
    figure.suptitle(f"{metric.replace('_', ' ')} over λ × {short_keys([row_key])[row_key]}{mean}: ○ each row's "
                    "best λ, □ the selected", fontsize=10)


def heat(ax, table: pd.DataFrame, norm, selection: dict, combo: dict, row_key: str):
    """One heatmap of a key × λ table; returns its image."""
    data = table.to_numpy(float)
    image = ax.imshow(np.ma.masked_invalid(data), norm=norm, cmap="viridis_r", aspect="auto")
    lambdas = list(table.columns)
    ax.set_xticks(range(len(lambdas)), [plain(v) for v in lambdas], rotation=60, fontsize=7)
    ax.set_yticks(range(len(table.index)), [str(v) for v in table.index], fontsize=7)
    ax.set_xlabel("λ")
    ax.set_ylabel(short_keys([row_key])[row_key])
    for r, row in enumerate(data):
        for c, v in enumerate(row):
            if not math.isfinite(v):
                ax.text(c, r, "NaN", ha="center", va="center", fontsize=6, color="crimson")
            elif data.size <= ANNOTATE_MOST:
                ax.text(c, r, plain(float(f"{v:.3g}")), ha="center", va="center", fontsize=6,
                        color="white" if norm(v) > 0.6 else "black")
        if np.isfinite(row).any():
            ax.plot(int(np.nanargmin(np.where(np.isfinite(row), row, np.nan))), r, "o", ms=14, mfc="none",
                    mec="white", mew=1.5)
    chosen = selection.get("axes") or {}
    if selection.get("lambda") in lambdas and all(str(chosen.get(k)) == str(v) for k, v in combo.items()) \
            and str(chosen.get(row_key)) in [str(v) for v in table.index]:
        r = [str(v) for v in table.index].index(str(chosen.get(row_key)))
        ax.add_patch(Rectangle((lambdas.index(selection["lambda"]) - 0.5, r - 0.5), 1, 1, fill=False, ec="crimson",
                               lw=2))
    return image


def draw_across(ax, run, metric: str = METRIC) -> None:
    """The metric against the first grid key, one line per λ (see the module docstring)."""
    keys = run.grid_keys
    x_key, others = keys[0], keys[1:]
    agg = run.aggregate
    per = [pivot(rows_of(agg, c), x_key, metric) for c in facets(run, others)]
    stack = np.stack([t.to_numpy(float) for t in per])  # (other cells, x values, λ)
    x = np.array([float(v) for v in per[0].index])
    lambdas = list(per[0].columns)
    mean = stack.mean(axis=0)
    if len(per) > 1:
        half = 1.96 * stack.std(axis=0, ddof=1) / math.sqrt(len(per))
        over = f"mean over {len(per)} cells of {', '.join(short_keys(others).values())}, 95 % band"
    else:
        half = pivot(agg, x_key, metric, "ci95").to_numpy(float)  # NaN (one seed): no band
        over = "mean over seeds, 95 % band"
    barred = lambda_key(ax, lambdas)
    for j, (lam, color) in enumerate(zip(lambdas, lambda_colors(lambdas), strict=True)):
        ax.plot(x, mean[:, j], marker="o", ms=3, color=color, lw=1.3, label=None if barred else f"λ={lam:g}")
        if np.isfinite(half[:, j]).any():
            ax.fill_between(x, np.maximum(mean[:, j] - half[:, j], mean[:, j] / 10), mean[:, j] + half[:, j],
                            color=color, alpha=0.15, lw=0)
    with np.errstate(invalid="ignore"):
        best = np.nanmin(np.where(np.isfinite(mean), mean, np.nan), axis=1)
    ax.plot(x, best, color="k", lw=2, label="the best λ at each x")
    ax.set_yscale("log")
    if x.min() > 0 and x.max() / x.min() > 50:
        ax.set_xscale("log")
    ax.set_xlabel(short_keys([x_key])[x_key])
    ax.set_ylabel(f"{metric.replace('_', ' ')} ({over})")
    ax.set_title(f"{metric.replace('_', ' ')} against {short_keys([x_key])[x_key]}, one line per λ")
    legend_outside(ax, columns=3)


def draw_evidence(figure, run) -> None:
    """MacKay's two pictures of a grid: the log evidence against λ, one line per grid cell (the architectures),
    its maximum marked; and each cell's largest log evidence against the test loss at that λ (mean over the seeds
    at a minimum of J; a λ without evidence leaves a gap)."""
    ax_lam, ax_test = figure.subplots(1, 2)
    keys, agg = run.grid_keys, run.aggregate
    cells = facets(run, keys)
    points = []
    for cell, color in zip(cells, lambda_colors(cells, "plasma"), strict=True):
        rows = rows_of(agg, cell).sort_values("lambda")
        lam, ev = rows["lambda"].to_numpy(float), rows["log_evidence_mean"].to_numpy(float)
        name = cell_label(cell, wrap=40) if cell else "the run"
        ax_lam.plot(lam, ev, marker="o", ms=3, color=color, label=name)
        if np.isfinite(ev).any():
            k = int(np.nanargmax(np.where(np.isfinite(ev), ev, np.nan)))
            ax_lam.plot(lam[k], ev[k], "*", ms=11, color=color, mec="k", mew=0.5)
            points.append((ev[k], rows["test_loss_mean"].iloc[k], color, name))
    ax_lam.set_xscale("log")
    ax_lam.set_xlabel("λ")
    ax_lam.set_ylabel("log evidence log p(D | λ) (mean over seeds)")
    ax_lam.set_title("the evidence against λ (★ its maximum)")
    legend_outside(ax_lam, columns=2)
    for ev, test, color, _ in points:
        ax_test.plot(ev, test, "o", ms=8, color=color, mec="k", mew=0.5)
    ax_test.set_xlabel("largest log evidence of the cell")
    ax_test.set_ylabel("test loss at that λ (mean over seeds)")
    ax_test.set_title("evidence against test loss, one point per cell")
