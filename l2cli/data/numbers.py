"""Numbers written with a thousands separator, checked as people write them: pandas' reader drops every
separator it meets (``1.2.3`` with ``--thousands .`` becomes 123), so a column that holds any value whose
groups are not of three digits is refused, naming its line, instead of being read as a number it is not."""

from __future__ import annotations

import re

import pandas as pd

from ..errors import InputError


def grouped_number(thousands: str, decimal: str) -> re.Pattern:
    """A number as text: digits grouped by threes with ``thousands`` (or not grouped at all), an optional
    fraction after ``decimal`` and an exponent."""
    t, d = re.escape(thousands), re.escape(decimal)
    exponent = r"(?:[eE][+-]?\d+)?"
    return re.compile(rf"[+-]?(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)(?:{d}\d*)?{exponent}|[+-]?{d}\d+{exponent}")


def check_grouping(text_frame: pd.DataFrame, parsed: pd.DataFrame, thousands: str, decimal: str, file: str) -> None:
    """Every column that came out as numbers (``parsed``) must hold numbers grouped by threes in its text
    (``text_frame``: the same table read as text): an InputError names the first line that does not."""
    if not thousands:
        return
    pattern = grouped_number(thousands, decimal)
    for column in parsed.columns:
        if not pd.api.types.is_numeric_dtype(parsed[column]) or pd.api.types.is_bool_dtype(parsed[column]):
            continue
        values = text_frame[column].dropna().astype(str).str.strip()
        values = values[(values != "") & ~values.str.lower().isin(("nan", "inf", "-inf", "+inf", "na", "n/a"))]
        wrong = ~values.str.fullmatch(pattern)
        if wrong.any():
            first = wrong.idxmax()
            raise InputError(f"{file} line {first + 2}: {values[first][:40]!r} in column {column!r} is not a number "
                             f"grouped by threes with the thousands separator {thousands!r}; {int(wrong.sum())} such "
                             "value(s)")
