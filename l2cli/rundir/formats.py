"""Rendering tables for stdout: table (tabulate), csv, tsv, json, ndjson, markdown."""

from __future__ import annotations

import json
import math

import pandas as pd
from tabulate import tabulate


def _records(frame: pd.DataFrame) -> list[dict]:
    rows = frame.to_dict(orient="records")
    for row in rows:  # JSON has no NaN: write null
        for k, v in row.items():
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None
            elif hasattr(v, "item"):
                row[k] = v.item()
    return rows


def compact(frame: pd.DataFrame, columns, grid_keys=()) -> pd.DataFrame:
    """The given columns that exist, the grid columns after the seed, and a `sel` mark on selected rows."""
    keep = [c for c in columns if c in frame.columns]
    at = keep.index("seed") + 1 if "seed" in keep else 1
    keep[at:at] = [k for k in grid_keys if k in frame.columns]
    view = frame[keep].copy()
    if "selected" in frame.columns and frame["selected"].any():
        view.insert(0, "sel", frame["selected"].map({True: "*", False: ""}))
    return view


def feature_matrix(features: pd.DataFrame, grid_keys=()) -> pd.DataFrame:
    """features.csv as λ (and grid cell) × feature: the mean over seeds of ‖W1[j,:]‖, features in file order."""
    keys = [*grid_keys, "lambda"]
    order = list(dict.fromkeys(features["feature"]))
    matrix = features.pivot_table(index=keys, columns="feature", values="norm", aggfunc="mean", sort=False)
    return matrix[order].reset_index().rename_axis(columns=None)


def pivot(aggregate: pd.DataFrame, key: str, metric: str = "test_loss", statistic: str = "mean") -> pd.DataFrame:
    """aggregate.csv's ``metric`` (its ``statistic`` over seeds: the column ``METRIC_mean``, or ``_ci95``) as a
    grid key × λ table: one row per value of ``key`` in the grid's order, one column per λ, each cell averaged
    over the other grid keys' cells. A NaN (a diverged model's mean) stays NaN: it is never averaged away."""
    column = f"{metric}_{statistic}"
    means = aggregate.groupby([key, "lambda"], sort=False)[column].apply(lambda s: s.mean(skipna=False))
    table = means.unstack("lambda").reindex(list(dict.fromkeys(aggregate[key])))
    return table[sorted(table.columns)]


def as_text(frame: pd.DataFrame, precision: int) -> pd.DataFrame:
    """Every number as text with ``precision`` significant digits, NaN as empty (for mixed columns)."""
    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.{precision}g}"
        return v
    return frame.map(cell)


#: The first characters that make a spreadsheet program read a cell as a formula (OWASP, "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_columns(frame: pd.DataFrame) -> list:
    """The columns that hold text (object or string dtype: pandas 3 reads text as its own string dtype)."""
    return [c for c in frame.columns
            if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]


def escape_cell(value):
    """A text cell that a spreadsheet would run as a formula, with a ' before it (a number is left as it is)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell and column name that would start a formula escaped (escape_cell): CSV
    tables hold names from users' files (features, classes, columns, ids)."""
    text = text_columns(frame)
    names = [escape_cell(c) for c in frame.columns]
    if not text and names == list(frame.columns):
        return frame
    safe = frame.copy()
    if text:
        safe[text] = safe[text].map(escape_cell)
    safe.columns = names
    return safe


def unescape(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as it was before spreadsheet_safe (for the tables l2cli reads back)."""
    def undo(value):
        return value[1:] if isinstance(value, str) and value[:1] == "'" and value[1:2] in FORMULA_START else value

    text = text_columns(frame)
    if text:
        frame[text] = frame[text].map(undo)
    frame.columns = [undo(c) for c in frame.columns]
    return frame


def render(frame: pd.DataFrame, fmt: str = "table", tablefmt: str = "simple", floatfmt: str = ".4g") -> str:
    """The frame as text in the given format, ending with a newline; csv and tsv are spreadsheet-safe."""
    if fmt == "csv":
        return spreadsheet_safe(frame).to_csv(index=False)
    if fmt == "tsv":
        return spreadsheet_safe(frame).to_csv(index=False, sep="\t")
    if fmt == "json":
        return json.dumps(_records(frame), indent=2) + "\n"
    if fmt == "ndjson":
        return "".join(json.dumps(r) + "\n" for r in _records(frame))
    style = "github" if fmt == "markdown" else tablefmt
    shown = frame.rename(columns=lambda c: printable(c) if isinstance(c, str) else c)
    text = text_columns(shown)
    if text:  # names from a user's file reach the terminal: no control or direction-override characters
        shown = shown.copy()
        shown[text] = shown[text].map(lambda v: printable(v) if isinstance(v, str) else v)
    return tabulate(shown, headers="keys", tablefmt=style, floatfmt=floatfmt, showindex=False) + "\n"


def printable(text: str) -> str:
    """``text`` with control characters (Unicode Cc) and format characters such as the bidirectional overrides
    (Cf) replaced by U+FFFD, so that a cell cannot move the cursor, clear the screen or reorder what is shown."""
    import unicodedata

    return "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
