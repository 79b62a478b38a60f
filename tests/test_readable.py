"""Pictures that stay readable on a grid, checked from matplotlib's own artist extents: no legend over any
axes, no two labels (titles, axis labels, tick labels, legends, suptitles) on top of each other, ticks in
plain numbers, and the curvature panel drawing only the eigenvalues the data determine."""

import re

import numpy as np
import pytest
from conftest import invoke

from l2cli.rundir.run import Run

pytest.importorskip("matplotlib")

#: the tutorial's grid run (docs/tutorial.md)
TUTORIAL_GRID = ["--grid", "model.hidden=[8],[64,64]", "--grid", "data.n_train=20,60", "--cv", "5"]


def tick_labels(ax, renderer):
    """(text, box) of every tick label of ``ax`` that is drawn: non-empty, on a tick inside the view."""
    out = []
    for axis, (low, high) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
        ticks = [t for t in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
                 if low - 1e-9 * abs(low) <= t.get_loc() <= high + 1e-9 * abs(high)]
        out += [(label.get_text(), label.get_window_extent(renderer)) for tick in ticks
                for label in (tick.label1, tick.label2) if label.get_visible() and label.get_text()]
    return out


def boxes(fig):
    """(legend boxes, axes boxes, labelled text boxes) of a drawn figure, in display units."""
    renderer = fig.canvas.get_renderer()
    legends, axes, texts = [], [], []
    for ax in (ax for ax in fig.get_axes() if ax.get_visible()):
        if ax.axison:
            axes.append((ax, ax.get_window_extent(renderer)))
        if ax.get_legend() is not None:
            legends.append((f"legend of {ax.get_title()!r}", ax.get_legend().get_window_extent(renderer)))
        texts += [(t.get_text(), t.get_window_extent(renderer)) for t in
                  (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label)
                  if t.get_visible() and t.get_text()]
        texts += tick_labels(ax, renderer)
    for sub in [fig, *fig.subfigs, *[s for f in fig.subfigs for s in f.subfigs]]:
        if getattr(sub, "_suptitle", None) is not None and sub._suptitle.get_text():
            texts.append((sub._suptitle.get_text(), sub._suptitle.get_window_extent(renderer)))
    return legends, axes, texts + legends


def overlap(a, b, slack=0.5) -> bool:
    return a.x0 + slack < b.x1 and b.x0 + slack < a.x1 and a.y0 + slack < b.y1 and b.y0 + slack < a.y1


def check_readable(fig):
    fig.canvas.draw()
    legends, axes, texts = boxes(fig)
    assert legends, "the picture has legends to check"
    covering = [(name, ax.get_title()) for name, box in legends for ax, frame in axes if overlap(box, frame)]
    assert covering == []
    clashes = [(a, b) for i, (a, box_a) in enumerate(texts) for b, box_b in texts[i + 1:] if overlap(box_a, box_b)]
    assert clashes == []
    labels = [t for t, _ in texts]
    assert not [t for t in labels if re.search(r"×\s*10|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]|\$", t)]  # plain numbers, no mathtext


def grid_figure(tmp_path, *args):
    from l2cli.plot.figure import run_figure

    result = invoke("sweep", *args, "--out", tmp_path / "grid", "-q")
    assert result.exit_code == 0, result.output
    return run_figure(Run.load(tmp_path / "grid"))


def test_a_small_grid_picture_has_no_legend_over_data_and_no_overlapping_labels(tmp_path):
    check_readable(grid_figure(tmp_path, "--grid", "model.hidden=[4],[8]", "--grid", "data.n_train=20,40", "--cv", "2",
                               "--epochs", "30", "--seeds", "0,1", "--lambdas", "1e-4,1e-2,1"))


@pytest.mark.slow  # the tutorial's grid run itself: about a minute here
def test_the_tutorials_grid_picture_has_no_legend_over_data_and_no_overlapping_labels(tmp_path):
    fig = grid_figure(tmp_path, *TUTORIAL_GRID)
    check_readable(fig)
    fig.savefig(tmp_path / "grid.png", dpi=60)  # the picture, made: what was looked at (docs/tutorial.md)


def test_many_lambdas_are_keyed_by_a_colour_bar_not_a_legend(tmp_path):
    from matplotlib.figure import Figure

    from l2cli.plot.figure import draw_panel
    from l2cli.plot.style import plain  # noqa: F401

    result = invoke("sweep", "--epochs", "20", "--lambdas", "logspace(-5,0,9)", "--seeds", "0", "--set",
                    "model.hidden=[4]", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    fig = Figure(figsize=(6, 5), layout="constrained")
    draw_panel(fig, Run.load(tmp_path / "run"), None, "learning")
    axes = fig.get_axes()
    assert len(axes) == 2  # the curves and the colour bar
    lambdas = np.logspace(-5, 0, 9)
    labels = [t.get_text() for t in axes[1].get_yticklabels()]
    assert len(labels) == 9 and np.allclose([float(t) for t in labels], lambdas, rtol=1e-5)
    legend = axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["test loss", "train loss"]


def test_ticks_are_plain_numbers():
    from l2cli.plot.style import plain

    assert [plain(v) for v in (0.3, 0.001, 1e-4, 1e-5, 1e-10, 12, 2000, 1e6, 0.25)] == \
        ["0.3", "0.001", "0.0001", "1e-5", "1e-10", "12", "2,000", "1e6", "0.25"]
    assert plain(4.216965034285822e-05) == "4.21697e-5" and plain(-2.5e-7) == "-2.5e-7"


def test_the_curvature_panel_draws_the_eigenvalues_the_data_determine_and_no_round_off():
    """G = BᵀB with B of rank 5 (5 × 40): 5 eigenvalues are the data's, 35 are round-off of 0."""
    from l2cli.plot.curvature import determined

    rng = np.random.default_rng(0)
    B = rng.normal(size=(5, 40)) * np.logspace(0, -3, 5)[:, None]
    h = np.linalg.eigvalsh(B.T @ B)
    assert (np.abs(h) < 1e-12).sum() == 35 and (np.abs(h) > 0).sum() > 5  # round-off, not exact zeros
    kept = determined(h, targets=5)
    assert np.allclose(np.sort(kept), np.sort(np.linalg.svd(B, compute_uv=False) ** 2), rtol=1e-10)
    assert len(determined(h, targets=100)) == 5  # the round-off cut-off alone, beyond the rank bound
    assert len(determined(np.array([1.0, 1e-20]), targets=2)) == 1
