"""What keeps a picture readable at any size of sweep: legends beside the data, λ keyed by a colour bar when
there are many, grid cells named briefly, ticks in plain numbers.

- **legends** (:func:`legend_outside`) go below their axes, never over the data, in as many columns as fit;
- **λ colours** (:func:`lambda_key`): a panel with one line per λ names them in its legend up to
  LEGEND_MOST lines, and in a colour bar of the λ (one band each) beyond;
- **grid cells** (:func:`cell_label`) are named by their axes without the section when that stays unique
  (``hidden=[64, 64], n_train=60``), wrapped to WRAP characters;
- **ticks** (:func:`plain_ticks`): numbers as ``0.001``, ``0.3``, ``1e-10``, never ``3×10⁻¹``; a log axis
  labels its decades, and its 2 and 5 when it spans less than two decades.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

#: more lines than this are keyed by a colour bar instead of a legend
LEGEND_MOST = 6
#: the widest line of a grid cell's label, in characters
WRAP = 28


def plain(value: float) -> str:
    """A tick's number in plain text: 0.001, 0.3, 12, 2,000, 4.21697e-5, 1e-10, 1e6 (6 significant digits at
    most, no mathtext, no ×10ⁿ)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if 1e-4 <= abs(value) < 1e6:
        text = f"{value:.6g}"
        return f"{value:,.0f}" if abs(value) >= 1000 and float(text) == round(value) else text
    mantissa, exponent = f"{value:.6g}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _log_formatter(axis, minor: bool):
    def label(value, _pos):
        low, high = sorted(axis.get_view_interval())
        if low <= 0 or high <= 0:
            return ""
        mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
        if not minor:
            return plain(value)
        few = math.log10(high / low) < 2
        return plain(value) if few and mantissa in (2.0, 5.0) else ""
    return FuncFormatter(label)


def plain_ticks(ax) -> None:
    """Every axis of ``ax`` labelled in plain numbers (see the module docstring); a log axis ticks 2 and 5
    between decades."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))  # 2 and 5 of each decade: readable, and cheap
            axis.set_major_formatter(_log_formatter(axis, minor=False))
            axis.set_minor_formatter(_log_formatter(axis, minor=True))
        elif scale == "linear" and type(axis.get_major_formatter()).__name__ == "ScalarFormatter":
            axis.set_major_formatter(FuncFormatter(lambda v, _pos: plain(v)))
            axis.set_minor_formatter(NullFormatter())


def legend_outside(ax, fontsize: float = 7, columns: int | None = None, **extra):
    """The legend of ``ax`` below it (under the x label), in ``columns`` (default: 2 past 3 entries), or none
    when nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    columns = columns or (1 if len(handles) <= 3 else 2)
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=fontsize,
                     ncol=columns, frameon=False, **extra)


def lambda_colors(lambdas: list[float], cmap: str = "viridis") -> list:
    """One colour per λ from a sequential colour map, the smallest λ darkest."""
    colors = colormaps[cmap]
    return [colors(i / max(len(lambdas) - 1, 1)) for i in range(len(lambdas))]


def lambda_key(ax, lambdas: list[float], cmap: str = "viridis") -> bool:
    """With more than LEGEND_MOST λ, a colour bar beside ``ax`` with one band per λ, labelled by its value;
    True when drawn (the lines then need no λ in their legend labels)."""
    if len(lambdas) <= LEGEND_MOST:
        return False
    colors = ListedColormap(lambda_colors(lambdas, cmap))
    norm = BoundaryNorm(np.arange(len(lambdas) + 1) - 0.5, len(lambdas))
    from matplotlib.cm import ScalarMappable

    bar = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=colors), ax=ax, pad=0.02, fraction=0.05, aspect=30)
    step = max(1, math.ceil(len(lambdas) / 12))  # at most a dozen labels
    shown = list(range(0, len(lambdas), step))
    bar.ax.yaxis.set_major_locator(FixedLocator(shown))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: plain(lambdas[int(round(v))])
                                                   if 0 <= round(v) < len(lambdas) else ""))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    bar.ax.tick_params(labelsize=7, length=2)
    bar.set_label("λ", fontsize=8)
    return True


def short_keys(keys: list[str]) -> dict[str, str]:
    """Each grid key without its section ("model.hidden" → "hidden") when the short names stay distinct."""
    short = {k: k.split(".", 1)[-1] for k in keys}
    return short if len(set(short.values())) == len(short) else {k: k for k in keys}


def cell_label(axes: dict, wrap: int = WRAP, separator: str = ", ") -> str:
    """A grid cell's name from its axes ({"model.hidden": [64, 64], ...}), keys shortened and wrapped."""
    names = short_keys(list(axes))
    text = separator.join(f"{names[k]}={v}" for k, v in axes.items())
    return "\n".join(textwrap.wrap(text, wrap, break_long_words=False, break_on_hyphens=False)) or text


def finish(fig) -> None:
    """Plain ticks on every axes of ``fig`` (after every scale is set)."""
    for ax in fig.get_axes():
        plain_ticks(ax)
