"""A user's table as a dataset: every problem with it is one clear InputError, all its columns' at once.

In order: the file (l2cli.data.source: only a regular file, bounded in size, CSV
text decoded with ``encoding`` and parsed with ``decimal`` and ``thousands``,
or an Excel or Parquet file; rows that do not fit the header are refused),
the target, the feature columns (``features``, ``drop``), date columns
(l2cli.data.dates: one numeric feature each, fractional years), infinite values,
missing values (``na``: drop the rows, impute, or refuse; rows with a missing
target are always dropped, and ``drop`` refuses to remove more than
``na_drop_limit`` of the rows), text columns (numbers written with another
decimal mark are named with the option that reads them; at most
``max_categories`` distinct values; ID-like columns are refused), the task and
the classes (at most ``max_classes``; a class rarer than ``min_class_rows`` is
refused, dropped or merged into ``other`` as ``rare_classes`` says). Notes
about what was done are returned with the data; every suggested fix is
shell-quoted, so that it runs when pasted.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import declaration, default_of, suggest
from ..errors import InputError
from .dates import convert_dates, is_text
from .preprocess import Recipe
from .problems import Problem, Problems, drop_flag
from .source import ReadOptions, read_frame

#: A text column whose values differ on at least this share of rows (with at least ID_MIN_ROWS rows) is an ID.
ID_SHARE, ID_MIN_ROWS = 0.9, 20
#: A column with at least this share of its values missing is suggested for --drop.
MOSTLY_EMPTY = 0.5
#: The most columns one message lists.
LISTED = 10
#: The label of the class that data.rare_classes = merge makes.
OTHER = "other"


@dataclass(frozen=True)
class TableOptions:
    """The data.* keys that say how to read a table: each field is the key of the same name, declared (with
    its default) in l2cli.config; none has a default here (:meth:`of` builds one)."""

    target: str
    task: str
    features: tuple[str, ...]
    drop: tuple[str, ...]
    na: str
    max_categories: int
    sep: str
    encoding: str
    decimal: str
    thousands: str
    dates: tuple[str, ...]
    sheet: str
    na_drop_limit: float
    min_class_rows: int
    rare_classes: str
    max_classes: int

    @classmethod
    def of(cls, data=None, **given) -> TableOptions:
        """The options of a [data] section: a DataConfig, or the dict manifest.json recorded (an older run lacks
        the newer keys, which then take their declared defaults), ``given`` keys winning; lists as tuples."""
        from ..config import DataConfig

        declared = DataConfig()
        get = data.get if isinstance(data, dict) else (lambda k, d=data: getattr(d, k, None))
        values = {}
        for f in dataclasses.fields(cls):
            value = given[f.name] if f.name in given else get(f.name) if data is not None else None
            value = getattr(declared, f.name) if value is None else value
            values[f.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    @property
    def reading(self) -> ReadOptions:
        return ReadOptions(self.sep, self.encoding, self.decimal, self.thousands, self.sheet)


@dataclass
class Table:
    """The features (raw columns) and target of a table, as read, with what was done to them."""

    frame: pd.DataFrame
    y: np.ndarray
    task: str
    recipe: Recipe
    notes: list[str] = field(default_factory=list)
    missing: dict = field(default_factory=dict)
    dates: dict = field(default_factory=dict)  # date column -> the format it was read in
    classes: dict = field(default_factory=dict)  # what data.rare_classes did


def listed(items: list[str]) -> str:
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def unknown_column(name: str, frame: pd.DataFrame, what: str, file: str) -> InputError:
    return InputError(f"{what}: column {name!r} not in {file}{suggest(name, list(frame.columns))}; "
                      f"columns: {', '.join(frame.columns)}")


def choose_columns(frame: pd.DataFrame, opts: TableOptions, file: str) -> list[str]:
    """The feature columns: ``features`` (default: all) less ``drop``, never the target. Every unknown
    column is named in one message."""
    if opts.target not in frame.columns:
        raise unknown_column(opts.target, frame, "data.target", file)
    unknown = []
    for what, names in (("data.features", opts.features), ("data.drop", opts.drop)):
        for name in names:
            if name == opts.target:
                raise InputError(f"{what} names the target column {name!r}")
            if name not in frame.columns:
                unknown.append(f"{what} {name!r}{suggest(name, list(frame.columns))}")
    if unknown:
        raise InputError(f"not columns of {file}: {listed(unknown)}; its columns: {', '.join(frame.columns)}")
    chosen = [c for c in (opts.features or frame.columns) if c != opts.target and c not in opts.drop]
    if not chosen:
        raise InputError(f"no feature columns are left besides the target {opts.target!r}")
    return chosen


def keep_columns(frame: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """``frame`` with only the columns ``keep``, in that order. The others are deleted in place, which copies
    no data; only an order other than the file's takes a copy of the columns kept."""
    wanted = set(keep)
    for column in [c for c in frame.columns if c not in wanted]:
        del frame[column]
    return frame if list(frame.columns) == keep else frame[keep]


def check_no_infinities(frame: pd.DataFrame, name: str) -> None:
    numeric = frame.select_dtypes("number")
    bad = [c for c in numeric.columns if np.isinf(numeric[c].to_numpy(dtype=float)).any()]
    if bad:
        raise InputError(f"{name} has infinite values in column(s) {', '.join(bad)}")


def missing_counts(frame: pd.DataFrame) -> dict[str, int]:
    """{column: missing values} for the columns with any, in the table's order."""
    counts = frame.isna().sum()
    return {str(c): int(n) for c, n in counts[counts > 0].items()}


def imputing_fix(opts: TableOptions) -> str:
    return "--na mean, median or most_frequent imputes them"


def handle_missing(frame: pd.DataFrame, opts: TableOptions, name: str, notes: list[str],
                   problems: Problems) -> tuple[pd.DataFrame, dict]:
    """Drop rows with a missing target, then apply the ``na`` policy to the feature columns. The count of each
    column's missing values is in the note and the returned record (manifest.json). A mostly empty column is
    named before it is imputed; dropping more than na_drop_limit of the rows is a problem (the rows are dropped
    all the same, so that the other checks go on)."""
    n = len(frame)
    counts = missing_counts(frame)
    shown = listed([f"{c} {k}" for c, k in counts.items()])
    if counts and opts.na == "error":
        raise InputError(f"{name} has missing values (of {n} rows): {shown}; {imputing_fix(opts)}, --na drop "
                         "drops their rows")
    frame = frame[frame[opts.target].notna()]
    info = {"policy": opts.na, "rows_read": n, "rows_without_target": n - len(frame), "columns": list(counts),
            "counts": counts}
    if counts:
        notes.append(f"missing values (of {n} rows): {shown}")
    if info["rows_without_target"]:
        notes.append(f"dropped {info['rows_without_target']} of {n} rows: missing target {opts.target!r}")
    feature_gaps = [c for c in counts if c != opts.target]
    if opts.na == "drop" and feature_gaps:
        kept = frame.dropna(subset=feature_gaps)
        info["rows_dropped"] = len(frame) - len(kept)
        check_drop_share(len(frame), len(kept), counts, feature_gaps, opts, problems)
        notes.append(f"dropped {info['rows_dropped']} of {len(frame)} rows with missing values in "
                     f"{', '.join(feature_gaps)} ({imputing_fix(opts)} instead)")
        frame = kept
    elif feature_gaps:
        info["imputed"] = feature_gaps
        empty = [c for c in feature_gaps if counts[c] >= MOSTLY_EMPTY * len(frame)]
        if empty:  # imputing would invent most of such a column: say so before it happens
            notes.append(f"note: {listed([f'{c!r} is {counts[c] / len(frame):.0%} empty' for c in empty])}: imputing "
                         f"fills most of {'them' if len(empty) > 1 else 'it'} with one value; {drop_flag(empty)} "
                         "leaves it out")
        notes.append(f"imputing missing values in {', '.join(feature_gaps)}: {opts.na} of the training rows "
                     "(text columns: most_frequent)")
    if len(frame) == 0:
        problems.raise_any()  # what was found so far says why (the drop share, with its fixes)
        raise InputError(f"{name}: no rows are left after dropping those with missing values "
                         f"(columns {', '.join(counts)}); {imputing_fix(opts)}")
    return frame, info


def check_drop_share(before: int, after: int, counts: dict, gaps: list[str], opts: TableOptions,
                     problems: Problems) -> None:
    """data.na = drop may remove at most data.na_drop_limit of the rows (with a target)."""
    removed = before - after
    if not before or removed / before <= opts.na_drop_limit:
        return
    empty = [c for c in gaps if counts[c] >= MOSTLY_EMPTY * before]
    limit = f"--set data.na_drop_limit={min(1.0, np.ceil(100 * removed / before) / 100):g}"
    fixes = [f"{drop_flag(empty)} leaves out the mostly empty column{'s' if len(empty) > 1 else ''}"] if empty else []
    fixes += [imputing_fix(opts), f"{limit} allows it"]
    problems.add(Problem(f"--na drop would remove {removed} of {before} rows ({removed / before:.0%}, more than "
                         f"data.na_drop_limit = {opts.na_drop_limit:g}); missing values: "
                         f"{listed([f'{c} {counts[c]}' for c in gaps])}; {', or '.join(fixes)}",
                         drop=tuple(empty), flags=() if empty else (limit,)))


#: (decimal mark, thousands separator) under which a text column may be numbers, tried in this order
MARKS = ((",", ""), (".", ","), (",", "."), (".", " "), (",", " "), (".", "'"))


def numeric_under(values: pd.Series) -> tuple[str, str] | None:
    """The (decimal, thousands) marks under which every value of a text column is a number, if any."""
    text = values.astype(str).str.strip()
    if not text.str.contains(r"\d").all() or not text.str.fullmatch(r"[-+]?[\d.,' ]+([eE][-+]?\d+)?").all():
        return None
    for decimal, thousands in MARKS:
        pattern = rf"[-+]?\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})*(?:{re.escape(decimal)}\d+)?([eE][-+]?\d+)?" \
            if thousands else rf"[-+]?\d*(?:{re.escape(decimal)}\d+)?([eE][-+]?\d+)?"
        if text.str.fullmatch(pattern).all():
            return decimal, thousands
    return None


def marks_fix(decimal: str, thousands: str) -> str:
    return " ".join([f"--decimal {shlex.quote(decimal)}", *([f"--thousands {shlex.quote(thousands)}"]
                                                            if thousands else [])])


def check_text_columns(frame: pd.DataFrame, text: list[str], opts: TableOptions, problems: Problems) -> None:
    """Refuse, in one message, the text columns that hold numbers written with other marks (naming the option
    that reads them), and those with too many distinct values to one-hot encode, and ID-like ones."""
    numbers, wide, wide_cols, widest = [], [], [], 0
    for col in text:
        values = frame[col].dropna()
        marks = numeric_under(values) if len(values) else None
        if marks and marks != (opts.decimal, opts.thousands):
            numbers.append((col, values.iloc[0], marks))
            continue
        distinct = values.nunique()
        id_like = len(values) >= ID_MIN_ROWS and distinct >= ID_SHARE * len(values)
        raised = opts.max_categories != default_of(declaration("data.max_categories"))  # the user allows more
        if distinct > opts.max_categories or (id_like and not raised):
            wide.append(f"{col!r} has {distinct} distinct values in {len(values)} rows"
                        f"{' (an ID or a name?)' if id_like else ''}")
            wide_cols.append(col)
            widest = max(widest, distinct)
    if numbers:
        fixes = list(dict.fromkeys(marks_fix(*m) for _, _, m in numbers))
        problems.add(Problem(f"{'columns' if len(numbers) > 1 else 'column'} "
                             f"{listed([f'{c!r} (e.g. {v!r})' for c, v, _ in numbers])} hold numbers written with "
                             f"another decimal mark or thousands separator: {' or '.join(fixes)} reads them",
                             flags=(fixes[0],)))
    if wide:
        problems.add(Problem(f"text column{'s' if len(wide) > 1 else ''} {listed(wide)}: {drop_flag(wide_cols)}, "
                             f"or --set data.max_categories={widest} to one-hot encode "
                             f"{'them' if len(wide) > 1 else 'it'}", drop=tuple(wide_cols)))


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


def looks_continuous(y: pd.Series) -> bool:
    """Numbers most of which are not whole, and most of them distinct: a quantity, not class labels."""
    if is_text(y) or pd.api.types.is_bool_dtype(y):
        return False
    values = y.dropna().to_numpy(dtype=float)
    return len(values) >= ID_MIN_ROWS and np.mean(np.mod(values, 1) != 0) > 0.5 and \
        len(np.unique(values)) > 0.5 * len(values)


def check_classes(frame: pd.DataFrame, y: np.ndarray, opts: TableOptions, problems: Problems,
                  notes: list[str]) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """At most data.max_classes classes, each with at least data.min_class_rows rows; rarer classes are
    refused, dropped or merged into one class ``other`` as data.rare_classes says."""
    labels, counts = np.unique(y.astype(str), return_counts=True)
    record = {"policy": opts.rare_classes, "min_rows": opts.min_class_rows, "rare": {}}
    if looks_continuous(frame[opts.target]):
        problems.add(Problem(f"target column {opts.target!r} looks continuous ({len(labels):,} distinct values, "
                             "most not whole numbers), not like classes: --task regression predicts it as a number",
                             flags=("--task regression",)))
        return frame, y, record
    if len(labels) > opts.max_classes:
        problems.add(Problem(f"target column {opts.target!r} has {len(labels):,} classes, more than "
                             f"data.max_classes = {opts.max_classes}: is it a number to predict? --task regression; "
                             f"or --set data.max_classes={len(labels)}", flags=("--task regression",)))
        return frame, y, record
    rare = {str(c): int(k) for c, k in zip(labels, counts, strict=True) if k < opts.min_class_rows}
    record["rare"] = rare
    if not rare:
        return frame, y, record
    shown = listed([f"{c!r} {k} row{'s' if k > 1 else ''}" for c, k in rare.items()])
    if opts.rare_classes == "error":
        problems.add(Problem(f"{'classes' if len(rare) > 1 else 'class'} {shown} of target {opts.target!r} "
                             f"{'have' if len(rare) > 1 else 'has'} fewer than data.min_class_rows = "
                             f"{opts.min_class_rows} rows (a stratified split needs them): --set data.rare_classes=drop"
                             " removes their rows, --set data.rare_classes=merge makes one class 'other' of them",
                             flags=("--set data.rare_classes=drop",)))
        return frame, y, record
    is_rare = np.isin(y.astype(str), list(rare))
    if opts.rare_classes == "drop":
        notes.append(f"dropped the {is_rare.sum()} rows of the rare class{'es' if len(rare) > 1 else ''} {shown} "
                     "(data.rare_classes = drop)")
        return frame[~is_rare], y[~is_rare], record
    y = y.astype(str).astype(object)
    y[is_rare] = OTHER
    merged = int(np.sum(y == OTHER))
    if merged < opts.min_class_rows:
        problems.add(Problem(f"merging the rare classes {shown} gives a class {OTHER!r} of {merged} rows, still "
                             f"fewer than data.min_class_rows = {opts.min_class_rows}: --set data.rare_classes=drop",
                             flags=("--set data.rare_classes=drop",)))
    notes.append(f"merged the rare class{'es' if len(rare) > 1 else ''} {shown} into one class {OTHER!r} of "
                 f"{merged} rows (data.rare_classes = merge; labels are now text)")
    return frame, y.astype(str), record


def check_target_marks(y: pd.Series, opts: TableOptions, name: str) -> None:
    values = y.dropna()
    marks = numeric_under(values) if len(values) and is_text(y) else None
    if marks and marks != (opts.decimal, opts.thousands):
        raise InputError(f"{name}: target column {opts.target!r} holds numbers written with another decimal mark or "
                         f"thousands separator (e.g. {values.iloc[0]!r}): {marks_fix(*marks)} reads them")


def read_table(path: str | Path, opts: TableOptions, standardize: bool = True) -> Table:
    """Read and check a table (see the module docstring)."""
    path = Path(path)
    frame = read_frame(path, opts.reading, opts.target)
    notes: list[str] = []
    frame = keep_columns(frame, [*choose_columns(frame, opts, path.name), opts.target])
    dates = convert_dates(frame, opts.dates, path.name, notes)
    check_no_infinities(frame, path.name)
    check_target_marks(frame[opts.target], opts, path.name)
    problems = Problems(path.name, opts.drop)  # every problem found, in one message at the end
    features = [c for c in frame.columns if c != opts.target]
    text = [c for c in features if is_text(frame[c])]
    check_text_columns(frame, text, opts, problems)  # on every row: before any is dropped for a missing value
    frame, missing = handle_missing(frame, opts, path.name, notes, problems)
    y, task = target_values(frame[opts.target], opts.task, opts.target)
    classes = {}
    if task == "classification":
        frame, y, classes = check_classes(frame, y, opts, problems, notes)
    problems.raise_any()
    numeric = [c for c in features if c not in text]
    impute = None if opts.na in ("drop", "error") or not missing.get("imputed") else opts.na
    recipe = Recipe(tuple(numeric), tuple(text), impute, standardize)
    return Table(frame[features].reset_index(drop=True), y, task, recipe, notes, missing, dates, classes)
