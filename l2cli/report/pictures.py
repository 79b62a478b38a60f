"""The report's pictures: each panel on its own figure, drawn by ``l2cli plot``'s own code (draw_panel), as an
SVG to put inline in the page or a PNG to write beside a Markdown summary.

Each figure has fixed axes and is cut to what it draws (``bbox_inches="tight"``), legends below included: one
pass over the artists where a layout engine takes three (the page is made in a third less time). The bytes
depend on the run alone: matplotlib's SVG ids are hashed with a fixed salt, its date and metadata
are left out, and text is kept as text (``svg.fonttype = none``), which makes the page smaller and its words
searchable. :func:`inline` then prefixes every id of a picture with its name, so that many SVGs in one page
never point into each other, and drops what a page does not need (the XML prolog, the metadata, the fixed
size: the picture scales with the page through its viewBox).
"""

from __future__ import annotations

import io
import re
from html import escape

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..plot.figure import draw_panel
from ..plot.style import finish

#: each panel's size in inches (width, height per row of boundary maps)
SIZES = {"curvature": (10.5, 5.6), "boundary": (8.0, 2.6), "heatmap": (8.0, 5.0), "evidence": (10.5, 5.4)}
DEFAULT_SIZE = (6.4, 5.2)
#: a cell's boundary maps per row
MAPS_PER_ROW = 4
#: room between a panel's axes (the others have one axes)
SPACING = {"curvature": {"wspace": 0.45}, "evidence": {"wspace": 0.35}, "boundary": {"hspace": 0.3, "wspace": 0.05},
           "heatmap": {"wspace": 0.35}}
RC = {"svg.hashsalt": "l2cli-report", "svg.fonttype": "none", "font.family": "DejaVu Sans", "axes.titlesize": 11,
      "axes.titley": 1.01}  # a fixed title height: matplotlib then skips measuring every tick label to place it


def figure(run, reloaded, picture, seed: int | None) -> Figure:
    """The figure of one Picture (l2cli.report.document), drawn by draw_panel."""
    lambdas = run.summary["lambda"].nunique()
    width, height = SIZES.get(picture.panel, DEFAULT_SIZE)
    if picture.panel == "boundary":
        cells = 1 if picture.cell is not None else len(run.manifest["cells"])
        per_row = min(MAPS_PER_ROW, lambdas)
        height = height * -(-lambdas // per_row) * cells + 0.5
        width = min(width, 2.0 * per_row)
    elif picture.panel == "losses" and run.grid_keys:
        height += 0.3 * len(run.manifest["cells"])
    elif picture.panel == "heatmap":
        from ..plot.grid import heatmap_size

        width, height = heatmap_size(run)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(**SPACING.get(picture.panel, {}))
    columns = min(MAPS_PER_ROW, lambdas) if picture.panel == "boundary" else None
    draw_panel(fig, run, reloaded, picture.panel, cell=picture.cell, seed=seed, columns=columns)
    finish(fig)
    return fig


def svg(run, reloaded, picture, seed: int | None) -> str:
    """The SVG text of one Picture, ready to put inline in an HTML page (see the module docstring)."""
    with rc_context(RC):
        fig = figure(run, reloaded, picture, seed)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.1,
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return inline(buffer.getvalue(), picture.name, picture.caption)


def png(run, reloaded, picture, seed: int | None) -> bytes:
    """The PNG bytes of one Picture (no date or software name inside: the same bytes for the same run)."""
    with rc_context(RC):
        fig = figure(run, reloaded, picture, seed)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", pad_inches=0.1, metadata={"Software": None})
    return buffer.getvalue()


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^")]+)')


def inline(text: str, name: str, caption: str) -> str:
    """matplotlib's SVG made fit to sit in a page beside others: ids prefixed with ``name``, no prolog,
    metadata or fixed size, and the caption as its accessible title."""
    start = text.index("<svg")
    text = text[start:]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", name) + "-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    head += f' role="img" aria-labelledby="{prefix}title" class="panel" data-panel="{escape(name)}"'
    return f'{head}><title id="{prefix}title">{escape(caption)}</title>{text[head_end + 1:]}'.rstrip() + "\n"
