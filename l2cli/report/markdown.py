"""A Document as GitHub-flavoured Markdown: a job summary ($GITHUB_STEP_SUMMARY) or a pull-request comment.

The same sections, answer and tables as the HTML page; the pictures as image links to PNG files written beside
it when there are any (``--assets``), else one line saying where they are. Every string is escaped (a backslash
before each character Markdown or HTML would act on), so text from a run directory stays text.
"""

from __future__ import annotations

import re

from ..rundir.formats import printable
from .document import Document, Facts, Picture, Table

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&!#])")


def text(value: str) -> str:
    """``value`` as literal Markdown text on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(printable(str(value)).split()))


def summary(doc: Document, assets: dict[str, str] | None = None) -> str:
    """The Markdown of ``doc``; ``assets`` maps each Picture's name to the path its PNG is linked by (relative
    to where the Markdown is read), or is None when no picture was written."""
    lines = [f"# {text(doc.title)}", "", f"**Answer:** {text(doc.answer)}", ""]
    for section in doc.sections:
        lines += [f"{'#' * section.level} {text(section.title)}", ""]
        for block in section.blocks:
            lines += block_lines(block, assets)
    pictures = doc.pictures()
    if pictures and assets is None:
        lines += [f"_{len(pictures)} pictures are in the HTML report (l2cli report RUN); --assets DIR writes them "
                  "as PNG files beside this summary._", ""]
    return "\n".join(lines).rstrip() + "\n"


def block_lines(block, assets: dict[str, str] | None) -> list[str]:
    if isinstance(block, str):
        return [text(block), ""]
    if isinstance(block, Facts):
        return [*table_lines(["", ""], [[f"**{text(k)}**", text(v)] for k, v in block.rows], [False, False],
                             escaped=True), ""]
    if isinstance(block, Table):
        numeric = [c in block.numeric for c in block.columns]
        return [f"_{text(block.caption)}_", "", *table_lines(block.columns, block.rows, numeric), ""]
    if isinstance(block, Picture):
        if assets is None:
            return []
        return [f"![{text(block.caption)}]({assets[block.name]})", ""]
    raise TypeError(f"not a block of a report: {type(block).__name__}")


def table_lines(columns: list[str], rows: list[list[str]], numeric: list[bool], escaped: bool = False) -> list[str]:
    """A GFM table: a header row, the alignment row (numbers to the right), one line per row."""
    cell = (lambda v: v) if escaped else text
    out = ["| " + " | ".join(text(c) for c in columns) + " |",
           "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out
