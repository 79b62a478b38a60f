"""Date columns: each becomes one numeric feature, the date in fractional years (2024-07-02 → 2024.5).

A column is a date column when it is named in ``data.dates`` (NAME, or
NAME=FORMAT with strftime codes), when it holds date-times already (Excel,
Parquet), or when every value is a date in one format l2cli recognises
unambiguously:

- ISO 8601 (``2012-01-31``, ``2012-01-31T08:30:00Z``);
- year first with ``/`` or ``.`` (``2012/01/31``, ``2012.01.31``);
- day and month with ``/``, ``.`` or ``-`` and a four-digit year, when some
  value shows the order (a day above 12: ``31/01/2012`` is day first);
- month names (``31 Jan 2012``, ``January 31, 2012``);

each optionally followed by a time (``HH:MM`` or ``HH:MM:SS``). A column of
day/month dates none of whose values shows the order (``01/02/2012``) is
refused with the two formats to choose from. Dates without a time zone are
taken as UTC, like an ISO date without one.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pandas as pd

from ..errors import InputError

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
TIMES = ("", " %H:%M", " %H:%M:%S")
YEAR_FIRST = re.compile(r"^\d{4}([/.])\d{1,2}\1\d{1,2}( \d{1,2}:\d{2}(:\d{2})?)?$")
DAY_MONTH = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$")
NAMED = re.compile(r"^(\d{1,2} [A-Za-z]{3,9}\.? \d{4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4})( \d{1,2}:\d{2}(:\d{2})?)?$")
NAMED_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y")
ISO_FORMAT = "ISO8601"


def fractional_years(t: pd.Series) -> pd.Series:
    """Date-times (UTC) as years with a fraction: 2024-07-02 → 2024.5."""
    days = np.where(t.dt.is_leap_year, 366.0, 365.0)
    seconds = t.dt.hour * 3600 + t.dt.minute * 60 + t.dt.second
    return t.dt.year + (t.dt.day_of_year - 1 + seconds / 86400) / days


def parse(values: pd.Series, fmt: str) -> pd.Series:
    """Text in ``fmt`` (strftime codes, or ISO8601) as UTC date-times; a ValueError if a value is not."""
    return pd.to_datetime(values, format=fmt, utc=True)


def parses(values: pd.Series, fmt: str) -> bool:
    try:
        parse(values, fmt)
        return True
    except (ValueError, pd.errors.OutOfBoundsDatetime):
        return False


def first_of(values: pd.Series, formats) -> str | None:
    return next((fmt for fmt in formats if parses(values, fmt)), None)


def with_times(formats) -> list[str]:
    return [f + t for f in formats for t in TIMES]


def recognise(name: str, values: pd.Series) -> str | None:
    """The format of a text column whose every (non-missing) value is a date in one recognised format, or
    None; an InputError when the values are day/month dates of an order no value shows."""
    text = values.astype(str).str.strip()
    if text.str.match(ISO).all():
        return ISO_FORMAT if parses(text, ISO_FORMAT) else None
    if text.str.match(YEAR_FIRST).all():
        mark = text.iloc[0][4]
        return first_of(text, with_times([f"%Y{mark}%m{mark}%d"]))
    parts = text.str.extract(DAY_MONTH)
    if parts[0].notna().all() and parts[1].nunique() == 1:
        first, second, mark = parts[0].astype(int), parts[2].astype(int), parts[1].iloc[0]
        day_first, month_first = f"%d{mark}%m{mark}%Y", f"%m{mark}%d{mark}%Y"
        if (first > 12).any() and (second > 12).any():
            return None
        if not (first > 12).any() and not (second > 12).any():
            example = text.iloc[0]
            fixes = " or ".join(f"--dates {shlex.quote(f'{name}={f}')}" for f in (day_first, month_first))
            raise InputError(f"column {name!r} holds dates such as {example!r} whose order of day and month no "
                             f"value shows: give it, {fixes}")
        return first_of(text, with_times([day_first if (first > 12).any() else month_first]))
    if text.str.match(NAMED).all():
        return first_of(text, with_times(NAMED_FORMATS))
    return None


def named(entries) -> dict[str, str]:
    """data.dates as {column: format, or '' to recognise it}."""
    out = {}
    for entry in entries:
        column, _, fmt = entry.partition("=")
        out[column.strip()] = fmt
    return out


def is_datetime(column: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(column)


def as_utc(column: pd.Series) -> pd.Series:
    """Date-times as UTC (naive ones are taken as UTC)."""
    return column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")


def convert_column(frame: pd.DataFrame, column: str, fmt: str, file: str, problems: dict | None = None) -> None:
    """The column as fractional years, parsed in ``fmt`` (a datetime column needs none); an InputError
    naming the first value that is not a date in it, or (``problems`` given) each such value missing and
    {row position: why} in ``problems``."""
    values = frame[column]
    if is_datetime(values):
        frame[column] = fractional_years(as_utc(values)).astype(np.float64)
        return
    present = values.notna()
    text = values[present].astype(str).str.strip()
    try:
        parsed = parse(text, fmt)
    except (ValueError, pd.errors.OutOfBoundsDatetime):
        if problems is None:
            bad = next(i for i, v in text.items() if not parses(pd.Series([v]), fmt))
            raise InputError(f"{file} line {bad + 2}: {text[bad]!r} in column {column!r} is not a date in the "
                             f"format {fmt!r}") from None
        unreadable = [i for i, v in text.items() if not parses(pd.Series([v]), fmt)]
        for i in unreadable:
            problems.setdefault(frame.index.get_loc(i), f"{text[i]!r} in column {column!r} is not a date in the "
                                                         f"format {fmt!r}")
        present[unreadable] = False
        text = text.drop(unreadable)
        parsed = parse(text, fmt)
    out = pd.Series(np.nan, index=values.index, dtype=np.float64)
    out[present] = fractional_years(parsed).to_numpy(dtype=np.float64)
    frame[column] = out


def is_text(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column) or is_datetime(column))


def column_format(frame: pd.DataFrame, column: str, asked: dict[str, str]) -> str | None:
    """The format to read a column's dates in ('' for date-times), or None when it is not a date column; an
    InputError for a column named in data.dates that holds no dates l2cli can read, or ambiguous ones."""
    values = frame[column].dropna()
    if is_datetime(frame[column]):
        return ""
    if asked.get(column):
        return asked[column]
    if not len(values) or not is_text(frame[column]):
        if column in asked:
            raise InputError(f"data.dates names {column!r}, which holds numbers or nothing, not dates")
        return None
    fmt = recognise(column, values)
    if fmt is None and column in asked:
        raise InputError(f"column {column!r} (data.dates) holds {values.iloc[0]!r}, not a date format l2cli "
                         f"recognises: give its format, e.g. --dates {shlex.quote(column + '=%d.%m.%Y')}")
    return fmt


def convert_dates(frame: pd.DataFrame, given, file: str, notes: list[str] | None = None) -> dict[str, str]:
    """Turn every date column of ``frame`` into fractional years, in place; {column: format used} (''
    for a column that held date-times already). ``given`` is data.dates. Every ambiguous column is named in
    one message."""
    from ..config import suggest

    asked = named(given)
    for column in asked:
        if column not in frame.columns:
            raise InputError(f"data.dates: column {column!r} not in {file}{suggest(column, list(frame.columns))}")
    formats, ambiguous = {}, []
    for column in frame.columns:
        try:
            fmt = column_format(frame, column, asked)
        except InputError as exc:
            if column in asked:
                raise
            ambiguous.append(str(exc))
            continue
        if fmt is None:
            continue
        convert_column(frame, column, fmt, file)
        formats[column] = fmt
        if notes is not None:
            how = "date-times" if not fmt else "ISO dates" if fmt == ISO_FORMAT else f"dates in {fmt}"
            notes.append(f"column {column!r} holds {how}: one numeric feature, in fractional years")
    if ambiguous:
        raise InputError(f"{file}: {'; '.join(ambiguous)}")
    return formats


def apply_formats(frame: pd.DataFrame, formats: dict[str, str], file: str, problems: dict | None = None) -> None:
    """Convert the date columns of new rows as the run converted its own (``formats``: column → format);
    ``problems``: collects the rows whose dates cannot be read instead of failing (see convert_column)."""
    for column, fmt in formats.items():
        if column in frame.columns:
            convert_column(frame, column, fmt or ISO_FORMAT, file, problems)
