"""The picture of a run, in panels (choices.PANELS). Needs matplotlib.

    losses        train, validation and test loss against λ (95 % bands over seeds)
    norms         the weight norm against λ
    learning      learning curves per λ
    coefficients  each input's ‖W1[j,:]‖ against λ (runs with features.csv)
    boundary      the decision boundary of every λ (classification on 2 numeric inputs)
    fit           the fitted function of every λ (regression on 1 numeric input)
    weights       the weights' distribution at a few λ
    curvature     the eigenvalues L2 acts on and their shrinkage at a few λ; γ against λ (runs with
                  effective_params; l2cli.plot.curvature)
    heatmap       a grid's test loss over λ × its last grid key, a map per value of the others (l2cli.plot.grid)
    across        a grid's test loss against its first grid key (a number), one line per λ (l2cli.plot.grid)
    evidence      the log evidence against λ per grid cell, and each cell's best evidence against its test
                  loss (runs with log_evidence; l2cli.plot.grid)

The first four read the tables; the last three the models (l2cli.plot.pictures),
with the data rebuilt and checked against the run's fingerprint. The figure
is drawn on its own Agg canvas (``matplotlib.figure.Figure``), not through
pyplot: importing this module leaves the caller's matplotlib backend and
pyplot state as they were.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps, rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..optim import METHODS
from ..vocabulary.choices import PANELS
from .grid import heatmap_size, numeric_axis
from .style import cell_label, finish, lambda_colors, lambda_key, legend_outside


def _x(lam: pd.Series) -> tuple[np.ndarray, float | None]:
    """λ on a log axis; λ = 0 is drawn one decade left of the smallest positive λ."""
    lam = lam.to_numpy(dtype=float)
    positive = lam[lam > 0]
    zero_at = positive.min() / 10 if len(positive) else 1.0
    return np.where(lam > 0, lam, zero_at), (zero_at if (lam == 0).any() else None)


def _band(ax, frame, column, label, color, style="-"):
    if ax is None or f"{column}_mean" not in frame or frame[f"{column}_mean"].isna().all():
        return
    x, _ = _x(frame["lambda"])
    mean = frame[f"{column}_mean"].to_numpy(float)
    ax.plot(x, mean, style, color=color, marker="o", ms=3, label=label)
    ci = frame.get(f"{column}_ci95")
    if ci is not None and ci.notna().any():
        ci = ci.fillna(0).to_numpy(float)
        low = np.maximum(mean - ci, mean / 10)  # a log axis: keep the band's lower edge positive
        ax.fill_between(x, low, mean + ci, color=color, alpha=0.2, lw=0)


def _lambda_axis(ax, agg: pd.DataFrame, selection: dict, keys: list[str] = ()) -> None:
    """Log λ axis with the λ = 0 marker and the selected λ (and, on a grid, its cell)."""
    ax.set_xscale("log")
    ax.set_xlabel("λ")
    _, zero_at = _x(agg["lambda"])
    if zero_at is not None:
        ax.axvline(zero_at, color="0.85", lw=0.8)
        ax.annotate("λ=0", (zero_at, 0.99), xycoords=("data", "axes fraction"), fontsize=8, ha="center", va="top")
    if selection.get("lambda") is not None:
        x_sel = selection["lambda"] if selection["lambda"] > 0 else zero_at
        if x_sel is not None:
            where = f" ({cell_label(selection['axes'], wrap=60)})" if keys and selection.get("axes") else ""
            ax.axvline(x_sel, color="k", ls="--", lw=1, label=f"selected λ = {selection['lambda']:g}{where}")
    _mark_diverged(ax, agg)


def _one_se_marks(ax, agg: pd.DataFrame, selection: dict) -> None:
    """The 1-SE band (from the lowest mean validation loss to one standard error above it) and the λ that the
    min and 1se rules choose (selection.json's ``choices``; runs before them have none)."""
    choices, se = selection.get("choices") or {}, selection.get("se")
    best = choices.get("min")
    if best is None or se is None:
        return
    _, zero_at = _x(agg["lambda"])
    low = best["val_loss_mean"]
    ax.axhspan(low, low + se, color="tab:green", alpha=0.12, lw=0,
               label=f"1-SE band (SE over {selection.get('se_n')} {selection.get('se_over')})")
    for name, style in (("min", ":"), ("1se", "-.")):
        choice = choices.get(name)
        if choice is not None:
            x = choice["lambda"] if choice["lambda"] > 0 else zero_at
            ax.axvline(x, color="tab:green", ls=style, lw=1.2, label=f"{name} rule: λ = {choice['lambda']:g}")


def _mark_diverged(ax, agg: pd.DataFrame) -> None:
    """A red × at the top of the axes over every λ with a diverged model: its NaN or inf mean would
    otherwise leave a silent gap in the line."""
    if "n_diverged" not in agg or not (agg["n_diverged"] > 0).any():
        return
    x, _ = _x(agg["lambda"])
    hit = (agg["n_diverged"] > 0).to_numpy()
    counts = agg.loc[hit, "n_diverged"].astype(int).tolist()
    ax.plot(x[hit], [0.96] * int(hit.sum()), "x", color="crimson", ms=8, mew=2, transform=ax.get_xaxis_transform(),
            label=f"λ with diverged models ({sum(counts)} of {int(agg['n_seeds'].sum())})")


def _against_lambda(ax_loss, ax_norm, cells: list[pd.DataFrame], keys: list[str]) -> None:
    """Loss and weight norm against λ: one colour per series (train, validation, test), one line style per
    grid cell, keyed once each in the legend (either axes may be None)."""
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    series = (("train_loss", "train", colors[0]), ("val_loss", "validation", colors[2]),
              ("test_loss", "test", colors[1]))
    for k, cell in enumerate(cells):
        cell = cell.sort_values("lambda")
        style = STYLES[k % len(STYLES)]
        for column, label, color in series:
            _band(ax_loss, cell, column, label if not keys and k == 0 else None, color, style)
        _band(ax_norm, cell, "weight_norm", "‖W‖" if not keys else None, colors[3], style)
    for ax, ylabel, title in ((ax_loss, "data loss (mean over seeds, 95 % CI)", "loss against λ"),
                              (ax_norm, "weight norm √Σ‖W_l‖²", "weight norm against λ")):
        if ax is None:
            continue
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if keys:
            if ax is ax_loss:
                for column, label, color in series:
                    if any(f"{column}_mean" in c and c[f"{column}_mean"].notna().any() for c in cells):
                        ax.plot([], [], color=color, marker="o", ms=3, label=label)
            for k, cell in enumerate(cells):
                ax.plot([], [], color="0.3", ls=STYLES[k % len(STYLES)], lw=1.2,
                        label=cell_label({a: cell[a].iloc[0] for a in keys}, wrap=60))


#: the line style of each grid cell in the panels against λ (then repeated)
STYLES = ("-", "--", ":", "-.")


def _learning_curves(ax, history: pd.DataFrame, first_cell: pd.DataFrame | None, keys: list[str],
                     unit: str = "epoch") -> None:
    """Test (solid) and train (dotted) loss against epoch per λ, mean over seeds, one grid cell (the first
    row of ``first_cell``'s axes); their accuracy or R² instead when history.csv has it (train.history_metrics)."""
    hist = history if not keys else history.merge(first_cell[keys].drop_duplicates(), on=keys)
    score = next((s for s in ("accuracy", "r2") if f"test_{s}" in hist and hist[f"test_{s}"].notna().any()), None)
    train, test = (f"train_{score}", f"test_{score}") if score else ("train_loss", "test_loss")
    curves = hist.groupby(["lambda", "epoch"], sort=True)[[train, test]].mean().reset_index()
    lambdas = sorted(curves["lambda"].unique())
    colors = lambda_colors(lambdas)
    barred = lambda_key(ax, lambdas)
    for lam, color in zip(lambdas, colors, strict=True):
        c = curves[curves["lambda"] == lam]
        ax.plot(c["epoch"], c[test], color=color, label=None if barred else f"λ={lam:g}")
        ax.plot(c["epoch"], c[train], color=color, ls=":", lw=0.8)
    what = {"accuracy": "accuracy", "r2": "R²"}.get(score, "loss")
    ax.plot([], [], color="0.3", label=f"test {what}")
    ax.plot([], [], color="0.3", ls=":", lw=0.8, label=f"train {what}")
    if score is None:
        ax.set_yscale("log")
    ax.set_xlabel(unit)
    ax.set_ylabel(f"{what} (mean over seeds)")
    ax.set_title("learning curves" + ("" if not keys else
                                      f" ({cell_label({a: first_cell[a].iloc[0] for a in keys}, wrap=60)})"))
    legend_outside(ax, columns=3 if not barred else 2)


def _coefficient_path(ax, features: pd.DataFrame, agg: pd.DataFrame, keys: list[str], most: int = 12,
                      cell: int = 0) -> None:
    """Each input's ‖W1[j,:]‖ against λ (mean over seeds, grid cell ``cell``): the ridge path. With many
    inputs, the ``most`` largest at the smallest λ."""
    if keys:
        features = features.merge(agg[keys].drop_duplicates().iloc[[cell]], on=keys)
    mean = features.groupby(["feature", "lambda"], sort=False)["norm"].mean().unstack("feature")
    mean = mean.sort_index()
    shown = mean.iloc[0].sort_values(ascending=False).index[:most]
    x, _ = _x(pd.Series(mean.index))
    cmap = colormaps["tab20"]
    for i, name in enumerate(shown):
        ax.plot(x, mean[name].to_numpy(float), marker="o", ms=2.5, color=cmap(i % 20), label=str(name)[:24])
    ax.set_xscale("log")
    ax.set_xlabel("λ")
    ax.set_ylabel("‖W1[j,:]‖ (mean over seeds)")
    more = f" ({most} largest of {mean.shape[1]})" if mean.shape[1] > most else ""
    ax.set_title(f"coefficient path per input{more}")
    legend_outside(ax, columns=min(4, max(1, len(shown) // 3)))


#: the panels drawn side by side in the first row (the tables' view) and in the last (pictures of models)
TABLE_PANELS = ("losses", "norms", "learning", "coefficients")
#: the views of a grid, side by side in a row of their own
GRID_PANELS = ("heatmap", "across", "evidence")
PICTURE_PANELS = ("fit", "weights", "curvature")


def applies(run, panel: str, reloaded=None) -> str | None:
    """Why ``panel`` cannot be drawn for ``run`` (one line), or None when it can."""
    from .pictures import boundary_cells, fit_cells

    data = run.manifest.get("data", {})
    what = f"{data.get('name')} is {data.get('task')} with {data.get('n_features')} input feature(s)"
    if panel == "coefficients" and run.features is None:
        return "the run has no features.csv"
    if panel in GRID_PANELS and not run.grid_keys:
        return "it draws a grid (sweep --grid KEY=VALUES), and the run has none"
    if panel == "evidence":
        if "log_evidence_mean" not in run.aggregate or not run.aggregate["log_evidence_mean"].notna().any():
            return "no model of the run has a log evidence (sweep.curvature = on, trained to a minimum of J)"
        return None
    if panel == "across" and not numeric_axis(run, run.grid_keys[0]):
        return f"its x-axis is the first grid key, {run.grid_keys[0]}, which needs at least 3 numbers"
    if panel in ("boundary", "fit", "weights", "curvature") and not (run.path / "weights.npz").is_file():
        return "the run has no weights.npz (output.weights = false)"
    if panel == "curvature" and "effective_params" not in run.summary.columns:
        return "the run has no curvature diagnostics (sweep.curvature = on computes them)"
    if panel == "curvature" and not run.summary["effective_params"].notna().any():
        return ("no model of the run stopped at a minimum of J, so none has an effective number of parameters "
                "(train with lbfgs or cg, or longer)")
    if panel == "boundary" and reloaded is not None and not boundary_cells(reloaded):
        return f"it draws classification on 2 numeric input columns, and {what}"
    if panel == "fit" and reloaded is not None and not fit_cells(reloaded):
        return f"it draws regression on 1 numeric input column, and {what}"
    return None


def likely(run, panel: str) -> bool:
    """Whether a model panel may apply, from manifest.json alone (before the data are rebuilt)."""
    task, sizes = run.manifest.get("data", {}).get("task"), [g["layer_sizes"][0] for g in run.manifest["cells"]]
    if panel == "boundary":
        return task == "classification" and 2 in sizes
    if panel == "fit":
        return task == "regression" and 1 in sizes
    return True


def choose_panels(run, asked: tuple[str, ...] | None, log=None):
    """The panels to draw and the run rebuilt for them (None when no panel needs its data): ``asked``, each
    of which must apply (an InputError says why not), or every panel that applies. By default, the panels
    that need the run's data are left out, with a line to ``log``, when its data file is not to be found;
    data that are found and differ from the run's are an InputError either way."""
    from ..errors import InputError
    from ..tools.reload import missing_data, reload

    wanted = list(dict.fromkeys(asked)) if asked else [p for p in PANELS if likely(run, p)]
    for panel in wanted:
        reason = applies(run, panel)
        if reason and asked:
            raise InputError(f"--panel {panel}: {reason}")
    wanted = [p for p in wanted if applies(run, p) is None]
    needs_data = [p for p in wanted if p in ("boundary", "fit", "curvature")]
    gone = missing_data(run) if needs_data and not asked else None
    if gone:
        if log:
            log(f"l2cli: the {' and '.join(needs_data)} panel{'s' if len(needs_data) > 1 else ''} left out: {gone}")
        wanted = [p for p in wanted if p not in needs_data]
    reloaded = reload(run) if {"boundary", "fit", "curvature"} & set(wanted) else None
    for panel in [p for p in wanted if applies(run, p, reloaded)]:
        if asked:
            raise InputError(f"--panel {panel}: {applies(run, panel, reloaded)}")
        wanted.remove(panel)
    return wanted, reloaded


def plot_run(run, path: str | Path, panels: tuple[str, ...] | None = None, seed: int | None = None,
             log=None) -> Path:
    """Write a PNG of ``run`` (an l2cli.rundir.run.Run) with ``panels`` (default: every panel that applies), the
    model pictures for ``seed`` (default: 0, or the run's first seed); ``log`` receives the notes."""
    path = Path(path)
    save_atomically(run_figure(run, panels, seed, log), path)
    return path


def run_figure(run, panels: tuple[str, ...] | None = None, seed: int | None = None, log=None) -> Figure:
    """The whole picture of ``run`` on one figure (see plot_run): the tables' panels in the first row, the
    decision boundaries of every grid cell that has them in the middle, the pictures of models last."""
    from .pictures import boundary_cells

    chosen, reloaded = choose_panels(run, panels, log)
    top = [p for p in TABLE_PANELS if p in chosen]
    middle = [p for p in GRID_PANELS if p in chosen]
    bottom = [p for p in PICTURE_PANELS if p in chosen]
    cells = boundary_cells(reloaded) if "boundary" in chosen else []
    lambdas = sorted(run.summary["lambda"].unique().tolist())
    top_height = 5.2 + 0.35 * len(run.grid_keys and run.manifest["cells"]) * ("losses" in top)
    heat = heatmap_size(run) if "heatmap" in middle else (0.0, 5.4)
    heights = ([top_height] * bool(top) + [max(5.4, heat[1])] * bool(middle) + [2.3 * len(cells) + 0.4] * bool(cells)
               + [5.0] * bool(bottom))
    width = max(5.4 * len(top), heat[0] + 7.0 * ("across" in middle) + 12.0 * ("evidence" in middle),
                2.3 * len(lambdas) * bool(cells),
                6.5 * (len(bottom) + ("curvature" in bottom)))
    fig = Figure(figsize=(width, sum(heights)), layout="constrained")
    FigureCanvasAgg(fig)
    rows = iter(fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0])
    if top:
        row = next(rows)
        for sub, panel in zip(row.subfigures(1, len(top), squeeze=False)[0], top, strict=True):
            draw_panel(sub, run, reloaded, panel, seed=seed)
    if middle:
        row = next(rows)
        widths = [heat[0] if p == "heatmap" else 12.0 if p == "evidence" else 7.0 for p in middle]
        for sub, panel in zip(row.subfigures(1, len(middle), width_ratios=widths, squeeze=False)[0], middle,
                              strict=True):
            draw_panel(sub, run, reloaded, panel, seed=seed)
    if cells:
        draw_panel(next(rows), run, reloaded, "boundary", seed=seed)
    if bottom:
        row = next(rows)
        widths = [2 if p == "curvature" else 1 for p in bottom]
        for sub, panel in zip(row.subfigures(1, len(bottom), width_ratios=widths, squeeze=False)[0], bottom,
                              strict=True):
            draw_panel(sub, run, reloaded, panel, seed=seed)
    fig.suptitle(f"{run.path.name}: {data_names(run)}, {len(run.summary)} models")
    finish(fig)
    return fig


def draw_panel(figure, run, reloaded, panel: str, cell: int | None = None, seed: int | None = None,
               columns: int | None = None) -> None:
    """One panel on ``figure`` (a Figure or SubFigure), its axes made here: ``plot``'s whole picture and the
    report's pictures both draw each panel through this. ``cell`` chooses the grid cell of a panel of one
    cell (default: the first that has it; the boundary panel: every cell that has it, one row each);
    ``columns`` wraps one cell's boundary maps into rows of that many."""
    from . import pictures

    lambdas = sorted(run.summary["lambda"].unique().tolist())
    k = 0 if cell is None else cell
    if panel in ("losses", "norms"):
        ax = figure.subplots()
        agg, keys = run.aggregate, run.grid_keys
        cells = [agg] if not keys else [c for _, c in agg.groupby(keys, sort=False)]
        _against_lambda(ax if panel == "losses" else None, ax if panel == "norms" else None, cells, keys)
        _lambda_axis(ax, agg, run.selection, keys)
        if panel == "losses":
            _one_se_marks(ax, agg, run.selection)
        legend_outside(ax)
    elif panel == "learning":
        method = METHODS.get(run.manifest.get("config", {}).get("train", {}).get("optimizer"))
        unit = "epoch" if method is None or method.unit == "epoch" else f"{method.name} {method.unit}"
        _learning_curves(figure.subplots(), run.history, cell_rows(run, k), run.grid_keys, unit)
    elif panel == "coefficients":
        _coefficient_path(figure.subplots(), run.features, run.aggregate, run.grid_keys, cell=k)
    elif panel == "heatmap":
        from .grid import draw_heatmap

        draw_heatmap(figure, run)
    elif panel in ("across", "evidence"):
        from .grid import draw_across, draw_evidence

        draw_across(figure.subplots(), run) if panel == "across" else draw_evidence(figure, run)
    elif panel == "boundary":
        cells = pictures.boundary_cells(reloaded) if cell is None else [cell]
        per_row = columns or len(lambdas)
        rows = -(-len(lambdas) // per_row) * len(cells)
        grid = figure.subplots(rows, per_row, squeeze=False)
        for ax in grid.ravel()[len(lambdas) * len(cells):]:
            ax.set_axis_off()
        flat = grid.ravel()
        pictures.draw_boundaries([flat[r * len(lambdas):(r + 1) * len(lambdas)] for r in range(len(cells))],
                                 reloaded, cells, lambdas, seed)
        figure.suptitle("decision boundary per λ (filled: training rows, hollow: test rows)", fontsize=10)
    elif panel == "fit":
        pictures.draw_fits(figure.subplots(), reloaded, pictures.fit_cells(reloaded)[0] if cell is None else k,
                           lambdas, seed)
    elif panel == "weights":
        pictures.draw_weights(figure.subplots(), run, lambdas, seed, run.manifest["cells"][k]["axes"])
    elif panel == "curvature":
        from .curvature import draw_curvature

        draw_curvature(figure.subplots(1, 2), run, reloaded, lambdas, seed, cell=k)


def cell_rows(run, k: int) -> pd.DataFrame:
    """The aggregate rows of grid cell ``k`` (all of them when the run has no grid)."""
    agg = run.aggregate
    for key, value in run.manifest["cells"][k]["axes"].items():
        agg = agg[agg[key].astype(str) == str(value)]
    return agg


def save_atomically(fig, path: Path) -> None:
    """The picture to a temporary file beside ``path``, renamed into place: an interrupted or failed write
    (a signal, a full disk) leaves the old picture whole and no temporary file. A link at ``path`` is
    replaced, never written through."""
    from ..machine.files import write_whole

    write_whole(path, lambda fh: fig.savefig(fh, dpi=110, format=path.suffix.lstrip(".").lower() or "png"))


def data_names(run) -> str:
    """The run's data: its file or dataset, or each grid cell's when the data is a sweep axis."""
    names = [g["axes"].get("data.dataset", g["axes"].get("data.path")) for g in run.manifest.get("cells", [])]
    if any(names):
        return ", ".join(dict.fromkeys(str(n) for n in names))
    return str(run.manifest.get("data", {}).get("name", ""))
