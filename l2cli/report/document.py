"""The parts a report is made of, whatever it is written as: sections of paragraphs, facts, tables and pictures.

A :class:`Document` holds text only (every number already written as the report shows it), so the HTML page and
the Markdown summary (l2cli.report.html, l2cli.report.markdown) say the same thing in the same digits. Nothing in
it is markup: the writers escape every string, which may come from a run directory (a column name, a data file's
name) and is data, never an instruction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Facts:
    """Name–value rows: what was run."""

    rows: list[tuple[str, str]]


@dataclass
class Table:
    """A table of text cells; ``numeric`` names the columns aligned as numbers."""

    columns: list[str]
    rows: list[list[str]]
    caption: str
    numeric: tuple[str, ...] = ()


@dataclass
class Picture:
    """A panel of ``l2cli plot`` (l2cli.vocabulary.choices.PANELS) for one grid cell (None: the whole run)."""

    panel: str
    cell: int | None
    caption: str
    name: str  # a file name stem, unique in the document: losses, boundary-cell-2, …


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list = field(default_factory=list)  # str (a paragraph) | Facts | Table | Picture
    level: int = 2


@dataclass
class Document:
    title: str
    answer: str
    sections: list[Section]

    def pictures(self) -> list[Picture]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Picture)]


def number(value, digits: int = 4) -> str:
    """A number as the report writes it: 4 significant digits; NaN and ±inf by name, never left blank."""
    if value is None:
        return "–"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "−inf"
    return f"{value:.{digits}g}"


def lam(value) -> str:
    """A λ as the run's tables write it (the shortest text that reads back as the same float); anything else
    that stands where a λ should, as its text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value)
