"""A data file as a raw DataFrame: only a regular file is read, its size is bounded before it is in memory,
its text decoded as said, its rows checked to fit the header.

The formats, by suffix: CSV (any other suffix; ``.tsv`` means tab-separated),
optionally compressed (``.gz``, ``.bz2``, ``.xz``); Excel workbooks (``.xlsx``,
``.xlsm``: openpyxl, ``pip install 'l2cli[excel]'``); Parquet files
(``.parquet``, ``.pq``: pyarrow, ``pip install 'l2cli[parquet]'``). Every
problem is one InputError naming the file. What comes out is the table as
written: column names stripped, every value as the file holds it (numbers
parsed with the given decimal mark and thousands separator, text as text).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError

OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
EXCEL, PARQUET = (".xlsx", ".xlsm"), (".parquet", ".pq")
#: JSON Lines: one JSON object a line, each a row (also compressed: rows.jsonl.gz)
JSONL = (".jsonl", ".ndjson")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: The longest header line read (a file without line breaks is not a table).
MAX_HEADER = 1 << 20
#: Bytes looked at for NUL bytes (binary data) and for the encoding hint.
SNIFF = 1 << 16


@dataclass(frozen=True)
class ReadOptions:
    """The data.* keys that say how a file's bytes become a table (the keys of the same names; TableOptions.reading
    makes one)."""

    sep: str
    encoding: str
    decimal: str
    thousands: str
    sheet: str


def file_format(path: Path) -> str:
    """csv, excel, parquet or jsonl, from the suffix (a compression suffix comes after the format's)."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError(f"{path.name} is an Excel 97-2003 workbook (.xls): save it as .xlsx or .csv")
    inner = Path(path.stem).suffix.lower() if suffix in OPENERS else suffix
    return "excel" if suffix in EXCEL else "parquet" if suffix in PARQUET else "jsonl" if inner in JSONL else "csv"


def check_regular(path: Path) -> os.stat_result:
    """The file's status, or an InputError: only a regular file (or a link to one) is read, never a FIFO,
    a device or a directory (which would block, or never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"data file not found: {path}") from None
    except OSError as exc:
        from ..errors import describe_os_error

        raise InputError(f"cannot read {describe_os_error(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        what = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket")
        raise InputError(f"{path} is {what}, not a regular file: give a data file")
    return st


def memory_budget() -> int:
    from ..machine.memory import available_memory

    return available_memory()


def check_memory(need: int, path: Path, what: str) -> None:
    from ..machine.memory import check_fits

    check_fits(need, f"reading {path.name} ({what})")


class Bounded(io.RawIOBase):
    """The bytes of a (decompressing) stream, refused once more than ``limit`` came out of it: a small
    compressed file can expand without bound (l2cli.data.budget)."""

    def __init__(self, stream, limit: int, path: Path, memory: int):
        self.stream, self.limit, self.path, self.count, self.memory = stream, limit, path, 0, memory

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.stream.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            from .budget import refuse_expansion

            raise refuse_expansion(self.path, self.limit, self.memory)
        buffer[:len(data)] = data
        return len(data)

    def close(self):
        self.stream.close()
        super().close()


def open_bytes(path: Path):
    """The file's bytes, decompressed by its suffix, bounded by the memory available and, for a compressed
    file, by its size (l2cli.data.budget)."""
    from .budget import expansion_limit

    opener = OPENERS.get(path.suffix.lower())
    memory = memory_budget() // 2
    limit = memory if opener is None else expansion_limit(path.stat().st_size, memory)
    return io.BufferedReader(Bounded((opener or open)(path, "rb"), limit, path, memory), 1 << 16)


def open_text(path: Path, encoding: str):
    """The file as text in ``encoding`` (UTF-8 also reads a byte-order mark), decompressed by its suffix."""
    encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    return io.TextIOWrapper(open_bytes(path), encoding=encoding, newline="")


def encoding_hint(raw: bytes) -> str:
    """The encoding a file whose bytes failed to decode most likely has."""
    half = len(raw) // 2
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or (half and raw[1::2].count(0) > 0.9 * half
                                                   and raw[0::2].count(0) < 0.1 * half):
        return "utf-16"  # a byte-order mark, or ASCII text with a zero byte after each character
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeError:
        pass
    if any(0x80 <= b <= 0x9F for b in raw):
        try:
            raw.decode("cp1252")
            return "cp1252"
        except UnicodeError:
            pass
    return "latin-1"


def decode_error(path: Path, encoding: str) -> InputError:
    """One line naming the encoding asked, the first line it fails on, and the one to try."""
    try:
        with open_bytes(path) as fh:
            raw = fh.read(SNIFF * 16)
    except (OSError, EOFError, lzma.LZMAError):
        raw = b""
    where = ""
    try:
        raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        where = f" (line {line}: byte 0x{raw[exc.start]:02x})"
    except UnicodeError as exc:  # e.g. UTF-16 without a byte-order mark
        where = f" ({exc})"
    except LookupError:
        pass
    hint = encoding_hint(raw)
    fix = f"; it reads as {hint}: --encoding {hint}" if hint != encoding else ""
    return InputError(f"{path.name} is not {encoding} text{where}{fix}")


def header_line(path: Path, encoding: str) -> str:
    """The first line of a text file, checked: text (no NUL bytes, unless the encoding has them) and shorter
    than MAX_HEADER."""
    try:
        with open_bytes(path) as fh:
            head = fh.read(SNIFF)
        if b"\0" in head and not encoding.startswith(("utf-16", "utf-32")):
            if encoding_hint(head) == "utf-16":
                raise InputError(f"{path.name} is UTF-16 text: --encoding utf-16")
            raise InputError(f"{path.name} holds binary data (NUL bytes), not CSV text")
        with open_text(path, encoding) as fh:
            line = fh.readline(MAX_HEADER)
    except UnicodeError:
        raise decode_error(path, encoding) from None
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path.name}: {exc}") from None
    if len(line) >= MAX_HEADER:
        raise InputError(f"{path.name}: the first line is longer than {MAX_HEADER >> 20} MiB; a CSV table starts "
                         "with a header line of column names")
    return line


def separator(path: Path, opts: ReadOptions) -> str:
    """The separator: given, or the one of comma, semicolon and tab found most often in the header (a
    decimal comma rules the comma out)."""
    if opts.sep != "auto":
        return "\t" if opts.sep == "tab" else opts.sep
    if path.suffixes and path.suffixes[0].lower() == ".tsv":
        return "\t"
    header = header_line(path, opts.encoding)
    candidates = (";", "\t") if opts.decimal == "," else (",", ";", "\t")
    counts = {s: header.count(s) for s in candidates}
    best = max(counts, key=counts.get)
    return best if counts[best] else candidates[0]


def check_header(names: list[str], path: Path, target: str) -> None:
    if not [n for n in names if n.strip()]:
        raise InputError(f"{path.name} is empty: no header line with column names")
    twice = sorted({n for n in names if names.count(n) > 1})
    if target in twice:
        raise InputError(f"target column {target!r} occurs {names.count(target)} times in {path.name}'s header")
    if twice:
        raise InputError(f"{path.name} has duplicate column names: {', '.join(map(repr, twice))}")


def scan_fields(path: Path, opts: ReadOptions, sep: str, columns: int) -> tuple[int, int]:
    """(rows, bytes of text) after checking that every row has one field per column of the header, or an
    InputError naming the first line that has not, and how many rows have too many or too few. (Given one
    field more on every row, pandas would take the first column for row labels and shift every column by
    one: training on the wrong columns, without a word.) The file is streamed: nothing is kept."""
    more = fewer = rows = 0
    first = None
    try:
        with open_text(path, opts.encoding) as fh:
            reader = csv.reader(fh, delimiter=sep)
            next(reader, None)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line, as pandas skips it
                rows += 1
                if len(row) != columns:
                    more, fewer = more + (len(row) > columns), fewer + (len(row) < columns)
                    first = first or (reader.line_num, len(row))
            size = fh.buffer.raw.count
    except UnicodeError:
        raise decode_error(path, opts.encoding) from None
    except (csv.Error, OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(f"cannot read {path.name} as CSV: {str(exc).splitlines()[0]}") from None
    if first:
        line, found = first
        counts = ", ".join(f"{n} row(s) with {what}" for n, what in ((more, "more"), (fewer, "fewer")) if n)
        hint = " (a separator at the end of every row?)" if more and not fewer and found == columns + 1 else ""
        raise InputError(f"{path.name} line {line}: {found} fields where the header has {columns}{hint}; {counts}: "
                         "every row needs one field per column")
    return rows, size


def read_csv(path: Path, opts: ReadOptions, target: str) -> pd.DataFrame:
    sep = separator(path, opts)
    if sep in (opts.decimal, opts.thousands):
        raise InputError(f"{path.name}: the separator {sep!r} cannot also be the decimal mark or the thousands "
                         "separator: give --sep")
    names = [n.strip() for n in next(csv.reader([header_line(path, opts.encoding)], delimiter=sep), [])]
    check_header(names, path, target)
    rows, size = scan_fields(path, opts, sep, len(names))
    check_memory(16 * rows * len(names) + 2 * size, path, f"{rows:,} rows of {len(names)} columns")
    try:
        with open_text(path, opts.encoding) as fh:  # index_col=False: a column is never taken for the row labels
            frame = pd.read_csv(fh, sep=sep, skipinitialspace=True, index_col=False, decimal=opts.decimal,
                                thousands=opts.thousands or None)
        if opts.thousands:  # pandas drops every separator it meets: 1.2.3 would be 123 (l2cli.data.numbers)
            from .numbers import check_grouping

            numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
            with open_text(path, opts.encoding) as fh:
                text = pd.read_csv(fh, sep=sep, skipinitialspace=True, index_col=False, dtype=str, usecols=numeric)
            check_grouping(text, frame, opts.thousands, opts.decimal, path.name)
    except InputError:
        raise
    except UnicodeError:
        raise decode_error(path, opts.encoding) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, EOFError, ValueError) as exc:
        raise InputError(f"cannot read {path.name} as CSV ({SEPARATOR_NAMES.get(sep, repr(sep))}-separated): "
                         f"{str(exc).splitlines()[0]}") from None
    return frame


def needs(module: str, extra: str, path: Path):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"reading {path.name} needs {module}: pip install 'l2cli[{extra}]'") from None


def read_excel(path: Path, opts: ReadOptions, target: str) -> pd.DataFrame:
    """The sheet (default: the first) with its first row as the header; a workbook is a zip archive of XML,
    whose expanded size is checked before it is read."""
    from .budget import check_workbook

    needs("openpyxl", "excel", path)
    check_workbook(path, memory_budget())
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's notes on styles and data validation
            book = pd.read_excel(path, sheet_name=opts.sheet or 0, header=None, engine="openpyxl")
    except ValueError as exc:
        raise InputError(f"{path.name}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged workbook
        raise InputError(f"cannot read {path.name} as an Excel workbook: {str(exc).splitlines()[0]}") from None
    if book.empty:
        raise InputError(f"{path.name} is empty: no header row with column names")
    names = ["" if pd.isna(v) else str(v).strip() for v in book.iloc[0]]
    check_header(names, path, target)
    frame = book.iloc[1:].reset_index(drop=True)
    frame.columns = names
    return frame.infer_objects()


def read_parquet(path: Path, opts: ReadOptions, target: str) -> pd.DataFrame:
    """The table, its size checked before pandas reads it (l2cli.data.budget)."""
    from .budget import check_parquet

    needs("pyarrow.parquet", "parquet", path)
    try:
        check_parquet(path, memory_budget())
        frame = pd.read_parquet(path, engine="pyarrow")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a damaged file are many
        raise InputError(f"cannot read {path.name} as Parquet: {str(exc).splitlines()[0]}") from None
    names = [str(c).strip() for c in frame.columns]
    check_header(names, path, target)
    frame.columns = names
    return frame.reset_index(drop=True)


#: how a message names each format
FORMAT_NAMES = {"csv": "CSV", "excel": "Excel", "parquet": "Parquet", "jsonl": "JSON Lines"}


def read_jsonl(path: Path, opts: ReadOptions, target: str) -> pd.DataFrame:
    """JSON Lines: one object a line, its keys the columns (a key missing from a line is a missing value); read
    through the same bounded, decompressing reader as a CSV file. A value that is an object or a list has no
    column to go into: refused, naming the column and the line."""
    with open_bytes(path) as fh:
        try:
            frame = pd.read_json(fh, lines=True, orient="records", dtype=False,
                                 precise_float=True)  # every number as its text says, as a CSV file's
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(f"cannot read {path.name} as JSON Lines: {str(exc).splitlines()[0]} (each line must be "
                             "one JSON object)") from None
    for column in frame.columns:
        nested = frame[column].map(lambda v: isinstance(v, (dict, list)))
        if nested.any():
            raise InputError(f"{path.name}: column {str(column)!r} holds an object or a list on line "
                             f"{int(nested.to_numpy().argmax()) + 1}: a table's cells are numbers or text")
    names = [str(c).strip() for c in frame.columns]
    check_header(names, path, target)
    frame.columns = names
    return frame.reset_index(drop=True)


def check_applies(path: Path, fmt: str, opts: ReadOptions) -> None:
    """The options of CSV text do not apply to a workbook, a Parquet or a JSON Lines file (and a sheet only to
    Excel): a value other than the declared default is refused there."""
    from ..config import DataConfig

    declared = DataConfig()
    given = [f"data.{k}" for k in ("sep", "encoding", "decimal", "thousands")
             if fmt != "csv" and getattr(opts, k) != getattr(declared, k)]
    if opts.sheet and fmt != "excel":
        given.append("data.sheet")
    if given:
        raise InputError(f"{', '.join(given)} do{'es' if len(given) == 1 else ''} not apply to {path.name}, "
                         f"a {FORMAT_NAMES[fmt]} file")


def read_frame(path: str | Path, opts: ReadOptions | None = None, target: str = "") -> pd.DataFrame:
    """The whole table as a DataFrame, its header checked (no duplicate names), with at least one row; ``opts``
    None reads it as the declared data.* defaults say."""
    if opts is None:
        from ..config import DataConfig

        d = DataConfig()
        opts = ReadOptions(d.sep, d.encoding, d.decimal, d.thousands, d.sheet)
    path = Path(path)
    check_regular(path)
    fmt = file_format(path)
    check_applies(path, fmt, opts)
    reader = {"csv": read_csv, "excel": read_excel, "parquet": read_parquet, "jsonl": read_jsonl}[fmt]
    frame = reader(path, opts, target)
    if len(frame) == 0:
        raise InputError(f"{path.name} has no data rows, only a header")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
