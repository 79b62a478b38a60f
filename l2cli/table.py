"""Reading a user's CSV file into a dataset: every problem with the file is one clear InputError.

In order: the separator (detected among comma, semicolon and tab unless
given; ``.tsv`` means tab; ``.gz``, ``.bz2``, ``.xz`` files are decompressed),
the header (no duplicate names; rows after it), the target, the feature
columns (``features``, ``drop``), ISO dates (one numeric feature each:
fractional years), infinite values, missing values (``na``: drop the rows,
impute, or refuse; rows with a missing target are always dropped), text
columns (at most ``max_categories`` distinct values; ID-like columns are
refused) and the task. Notes about what was done are returned with the data.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import suggest
from .errors import InputError
from .preprocess import Recipe

OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
#: A text column whose values differ on at least this share of rows (with at least ID_MIN_ROWS rows) is an ID.
ID_SHARE, ID_MIN_ROWS = 0.9, 20
DEFAULT_MAX_CATEGORIES = 20


@dataclass(frozen=True)
class TableOptions:
    """The data.* keys that say how to read a CSV file."""

    target: str
    task: str = "auto"
    features: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    na: str = "drop"
    max_categories: int = DEFAULT_MAX_CATEGORIES
    sep: str = "auto"


@dataclass
class Table:
    """The features (raw columns) and target of a CSV file, as read, with what was done to them."""

    frame: pd.DataFrame
    y: np.ndarray
    task: str
    recipe: Recipe
    notes: list[str] = field(default_factory=list)
    missing: dict = field(default_factory=dict)


def open_text(path: Path):
    """The file as text (UTF-8, a byte-order mark allowed), decompressed by its suffix."""
    opener = OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def separator(path: Path, sep: str) -> str:
    """The separator: given, or the one of comma, semicolon and tab found most often in the header."""
    if sep != "auto":
        return "\t" if sep == "tab" else sep
    if path.suffixes and path.suffixes[0].lower() == ".tsv":
        return "\t"
    header = header_line(path)
    counts = {s: header.count(s) for s in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def header_line(path: Path) -> str:
    try:
        with open_text(path) as fh:
            return fh.readline()
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not UTF-8 text") from None
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(f"cannot read {path.name}: {exc}") from None


def read_frame(path: Path, sep: str, target: str = "") -> pd.DataFrame:
    """The whole file as a DataFrame, with its header checked for duplicate names and data rows."""
    names = [n.strip() for n in next(csv.reader([header_line(path)], delimiter=sep), [])]  # as used below
    if not [n for n in names if n.strip()]:
        raise InputError(f"{path.name} is empty: no header line with column names")
    twice = sorted({n for n in names if names.count(n) > 1})
    if target in twice:
        raise InputError(f"target column {target!r} occurs {names.count(target)} times in {path.name}'s header")
    if twice:
        raise InputError(f"{path.name} has duplicate column names: {', '.join(map(repr, twice))}")
    check_fields(path, sep, len(names))
    try:
        with open_text(path) as fh:  # index_col=False: a column is never taken for the row labels
            frame = pd.read_csv(fh, sep=sep, skipinitialspace=True, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(f"cannot read {path.name} as CSV ({SEPARATOR_NAMES.get(sep, repr(sep))}-separated): "
                         f"{str(exc).splitlines()[0]}") from None
    if len(frame) == 0:
        raise InputError(f"{path.name} has no data rows, only a header")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def check_fields(path: Path, sep: str, columns: int) -> None:
    """Every row has one field per column of the header, or an InputError naming the first line that has not,
    and how many rows have too many or too few. (Given one field more on every row, pandas would take the first
    column for row labels and shift every column by one: training on the wrong columns, without a word.)"""
    more = fewer = 0
    first = None
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh, delimiter=sep)
            next(reader, None)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line, as pandas skips it
                if len(row) != columns:
                    more, fewer = more + (len(row) > columns), fewer + (len(row) < columns)
                    first = first or (reader.line_num, len(row))
    except (csv.Error, UnicodeDecodeError, OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(f"cannot read {path.name} as CSV: {str(exc).splitlines()[0]}") from None
    if first:
        line, found = first
        counts = ", ".join(f"{n} row(s) with {what}" for n, what in ((more, "more"), (fewer, "fewer")) if n)
        hint = " (a separator at the end of every row?)" if more and not fewer and found == columns + 1 else ""
        raise InputError(f"{path.name} line {line}: {found} fields where the header has {columns}{hint}; {counts}: "
                         "every row needs one field per column")


def unknown_column(name: str, frame: pd.DataFrame, what: str, file: str) -> InputError:
    return InputError(f"{what}: column {name!r} not in {file}{suggest(name, list(frame.columns))}; "
                      f"columns: {', '.join(frame.columns)}")


def choose_columns(frame: pd.DataFrame, opts: TableOptions, file: str) -> list[str]:
    """The feature columns: ``features`` (default: all) less ``drop``, never the target."""
    if opts.target not in frame.columns:
        raise unknown_column(opts.target, frame, "data.target", file)
    for what, names in (("data.features", opts.features), ("data.drop", opts.drop)):
        for name in names:
            if name not in frame.columns:
                raise unknown_column(name, frame, what, file)
            if name == opts.target:
                raise InputError(f"{what} names the target column {name!r}")
    chosen = [c for c in (opts.features or frame.columns) if c != opts.target and c not in opts.drop]
    if not chosen:
        raise InputError(f"no feature columns are left besides the target {opts.target!r}")
    return chosen


def fractional_years(values: pd.Series) -> pd.Series:
    """ISO dates or date-times as years with a fraction: 2024-07-02 → 2024.5."""
    t = pd.to_datetime(values, format="ISO8601", utc=True)
    days = np.where(t.dt.is_leap_year, 366.0, 365.0)
    seconds = t.dt.hour * 3600 + t.dt.minute * 60 + t.dt.second
    return t.dt.year + (t.dt.day_of_year - 1 + seconds / 86400) / days


def is_text(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def convert_dates(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Text columns whose every value is an ISO date become fractional years (one numeric feature)."""
    for name in frame.columns:
        values = frame[name].dropna()
        if is_text(frame[name]) and len(values) and values.astype(str).str.match(_ISO_DATE).all():
            try:
                frame[name] = fractional_years(frame[name])
            except (ValueError, pd.errors.OutOfBoundsDatetime):
                continue
            notes.append(f"column {name!r} holds ISO dates: one numeric feature, in fractional years")
    return frame


def check_finite(frame: pd.DataFrame, name: str) -> None:
    numeric = frame.select_dtypes("number")
    bad = [c for c in numeric.columns if np.isinf(numeric[c].to_numpy(dtype=float)).any()]
    if bad:
        raise InputError(f"{name} has infinite values in column(s) {', '.join(bad)}")


def handle_missing(frame: pd.DataFrame, opts: TableOptions, name: str, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Drop rows with a missing target, then apply the ``na`` policy to the feature columns."""
    features = [c for c in frame.columns if c != opts.target]
    gaps = [c for c in frame.columns if frame[c].isna().any()]
    if gaps and opts.na == "error":
        raise InputError(f"{name} has missing values in column(s) {', '.join(gaps)}; "
                         "choose --na drop, mean, median or most_frequent")
    n = len(frame)
    frame = frame[frame[opts.target].notna()]
    info = {"policy": opts.na, "rows_read": n, "rows_without_target": n - len(frame), "columns": gaps}
    if info["rows_without_target"]:
        notes.append(f"dropped {info['rows_without_target']} of {n} rows: missing target {opts.target!r}")
    feature_gaps = [c for c in features if c in gaps]
    if opts.na == "drop" and feature_gaps:
        kept = frame.dropna(subset=feature_gaps)
        info["rows_dropped"] = len(frame) - len(kept)
        notes.append(f"dropped {info['rows_dropped']} of {n} rows with missing values in {', '.join(feature_gaps)} "
                     "(--na mean, median or most_frequent imputes them instead)")
        frame = kept
    elif feature_gaps:
        info["imputed"] = feature_gaps
        notes.append(f"imputing missing values in {', '.join(feature_gaps)}: {opts.na} of the training rows "
                     "(text columns: most_frequent)")
    if len(frame) == 0:
        raise InputError(f"{name}: no rows are left after dropping those with missing values "
                         f"(columns {', '.join(gaps)}); try --na mean")
    return frame, info


def check_text_columns(frame: pd.DataFrame, text: list[str], opts: TableOptions, name: str) -> None:
    """Refuse text columns with too many distinct values to one-hot encode, and ID-like ones."""
    for col in text:
        values = frame[col].dropna()
        distinct = values.nunique()
        id_like = len(values) >= ID_MIN_ROWS and distinct >= ID_SHARE * len(values)
        if distinct > opts.max_categories or (id_like and opts.max_categories == DEFAULT_MAX_CATEGORIES):
            what = " (an ID or a name?)" if id_like else ""
            raise InputError(f"{name}: text column {col!r} has {distinct} distinct values in {len(values)} rows"
                             f"{what}; --drop {col}, or --set data.max_categories={distinct} to one-hot encode it")


def infer_task(y: pd.Series) -> str:
    """Text or bool, or integers with at most 20 distinct values: classification; otherwise regression."""
    if is_text(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy(dtype=float)
    if np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= 20:
        return "classification"
    return "regression"


def target_values(y: pd.Series, task: str, target: str) -> tuple[np.ndarray, str]:
    task = infer_task(y) if task == "auto" else task
    if task == "regression":
        if is_text(y):
            raise InputError(f"target column {target!r} is not numeric, so it cannot be a regression target")
        return y.to_numpy(dtype=np.float64), task
    return (y.astype(str).to_numpy() if is_text(y) else y.to_numpy()), task


def read_table(path: str | Path, opts: TableOptions, standardize: bool = True) -> Table:
    """Read and check a CSV file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    frame = read_frame(path, separator(path, opts.sep), opts.target)
    notes: list[str] = []
    frame = frame[[*choose_columns(frame, opts, path.name), opts.target]].copy()
    frame = convert_dates(frame, notes)
    check_finite(frame, path.name)
    frame, missing = handle_missing(frame, opts, path.name, notes)
    features = [c for c in frame.columns if c != opts.target]
    text = [c for c in features if is_text(frame[c])]
    check_text_columns(frame, text, opts, path.name)
    y, task = target_values(frame[opts.target], opts.task, opts.target)
    numeric = [c for c in features if c not in text]
    impute = None if opts.na in ("drop", "error") or not missing.get("imputed") else opts.na
    recipe = Recipe(tuple(numeric), tuple(text), impute, standardize)
    return Table(frame[features].reset_index(drop=True), y, task, recipe, notes, missing)
