"""``l2cli report``: the whole run as one page (HTML) or one summary (Markdown). Needs matplotlib.

:func:`html_report` and :func:`markdown_report` return the text; :func:`write_assets` writes the PNGs a Markdown
summary links to. The panels are those ``l2cli plot`` would draw (l2cli.plot.figure.choose_panels), each for
every grid cell it applies to.
"""

from __future__ import annotations

import os
from pathlib import Path

from .document import Document
from .story import story


def document(run, log=None) -> tuple[Document, object]:
    """The Document of ``run`` and the run rebuilt for its pictures (None when none needs the data);
    ``log`` is told (and the report says) which panels were left out and why."""
    from ..plot.figure import choose_panels
    from ..plot.pictures import boundary_cells, fit_cells

    notes = []

    def note(line):
        notes.append(line.removeprefix("l2cli: ").capitalize() + ".")
        if log is not None:
            log(line)

    panels, reloaded = choose_panels(run, None, note)
    cells_with = {}
    if "boundary" in panels:
        cells_with["boundary"] = boundary_cells(reloaded)
    if "fit" in panels:
        cells_with["fit"] = fit_cells(reloaded)
    if "curvature" in panels:
        cells_with["curvature"] = curvature_cells(run)
    return story(run, panels, cells_with, notes), reloaded


def curvature_cells(run) -> list[int]:
    """The grid cells with an effective number of parameters for some λ (the curvature panel's right axes)."""
    from .story import cell_rows

    return [k for k, cell in enumerate(run.manifest["cells"])
            if cell_rows(run.summary, cell["axes"])["effective_params"].notna().any()]


def html_report(run, seed: int | None = None, log=None) -> str:
    """The self-contained HTML page of ``run``, every panel inline as SVG (model pictures for ``seed``)."""
    from .html import page
    from .pictures import svg

    doc, reloaded = document(run, log)
    return page(doc, {p.name: svg(run, reloaded, p, seed) for p in doc.pictures()})


def markdown_report(run, assets: str | Path | None = None, read_from: str | Path | None = None,
                    seed: int | None = None, log=None) -> str:
    """The Markdown summary of ``run``; with ``assets``, each panel is written there as a PNG
    (write_assets) and linked by its path relative to ``read_from`` (the Markdown file's folder; default:
    the working directory)."""
    from .markdown import summary

    doc, reloaded = document(run, log)
    if assets is None:
        return summary(doc)
    written = write_assets(run, reloaded, doc, Path(assets), seed)
    start = Path(read_from) if read_from is not None else Path.cwd()
    links = {name: Path(os.path.relpath(path, start)).as_posix() for name, path in written.items()}
    return summary(doc, links)


def write_assets(run, reloaded, doc: Document, folder: Path, seed: int | None) -> dict[str, Path]:
    """Each Picture of ``doc`` as FOLDER/NAME.png, written whole (l2cli.machine.files.write_whole)."""
    from ..machine.files import write_whole
    from .pictures import png

    written = {}
    for picture in doc.pictures():
        path = folder / f"{picture.name}.png"
        data = png(run, reloaded, picture, seed)
        write_whole(path, lambda fh, data=data: fh.write(data))
        written[picture.name] = path
    return written
