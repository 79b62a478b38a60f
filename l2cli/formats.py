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


def as_text(frame: pd.DataFrame, precision: int) -> pd.DataFrame:
    """Every number as text with ``precision`` significant digits, NaN as empty (for mixed columns)."""
    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.{precision}g}"
        return v
    return frame.map(cell)


def render(frame: pd.DataFrame, fmt: str = "table", tablefmt: str = "simple", floatfmt: str = ".4g") -> str:
    """The frame as text in the given format, ending with a newline."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "tsv":
        return frame.to_csv(index=False, sep="\t")
    if fmt == "json":
        return json.dumps(_records(frame), indent=2) + "\n"
    if fmt == "ndjson":
        return "".join(json.dumps(r) + "\n" for r in _records(frame))
    style = "github" if fmt == "markdown" else tablefmt
    shown = frame.rename(columns=lambda c: printable(c) if isinstance(c, str) else c)
    text = [c for c in shown.columns if shown[c].dtype == object]
    if text:  # names from a user's file reach the terminal: no control or direction-override characters
        shown = shown.copy()
        shown[text] = shown[text].map(lambda v: printable(v) if isinstance(v, str) else v)
    return tabulate(shown, headers="keys", tablefmt=style, floatfmt=floatfmt, showindex=False) + "\n"


def printable(text: str) -> str:
    """``text`` with control characters (Unicode Cc) and format characters such as the bidirectional overrides
    (Cf) replaced by U+FFFD, so that a cell cannot move the cursor, clear the screen or reorder what is shown."""
    import unicodedata

    return "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
