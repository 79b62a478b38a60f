"""What reading a data file will cost, checked before the parse that costs it: a small compressed file can
expand a thousandfold (a "zip bomb"), and the parsers hold far more than the bytes they read.

The budgets, measured here (AMD EPYC, openpyxl 3.1, pandas 3.0, pyarrow 26):

- **Compressed files** (.gz, .bz2, .xz, and each part of an Excel workbook) may expand at most
  ``MAX_RATIO`` times their compressed size (the bound Apache POI applies to workbooks), or to
  ``FREE_EXPANSION``, whichever is more: the decompressed stream is counted as it is read and refused past
  that, so the time spent is bounded by the file's own size.
- **Excel**: openpyxl parses about 1 MB of sheet XML a second and holds about 4.5 bytes per byte of XML
  with the DataFrame pandas builds from it; a workbook is refused when its parts' declared sizes (the zip
  directory's, which the reader cannot exceed: a part that expands past its size fails its CRC) need more
  than ``EXCEL_BYTES_PER_XML_BYTE`` times their size in memory, or more than ``MAX_EXCEL_XML`` of XML
  (minutes of parsing: save such a sheet as CSV or Parquet, which read in seconds).
- **Parquet**: the rows and columns in the metadata bound the numbers (16 bytes a cell, as for CSV); text
  columns, whose dictionary encoding hides their real size, are decoded in batches whose Arrow size is
  counted, three times over for the conversion to pandas, and refused before the batch that would pass the
  memory available.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import InputError

#: The most a compressed file may expand, as a multiple of its compressed size (POI's ZipSecureFile: 0.01).
MAX_RATIO = 100
#: Expansions up to this size are allowed whatever their ratio (a small table of zeros compresses a lot).
FREE_EXPANSION = 64 * 2**20
#: Memory per byte of sheet XML while openpyxl parses it and pandas builds the frame (4.5 measured).
EXCEL_BYTES_PER_XML_BYTE = 8
#: The most sheet XML read (about 4 minutes of openpyxl here).
MAX_EXCEL_XML = 256 * 2**20
#: Memory per byte of Arrow data read from Parquet: the Arrow table, the pandas frame and a copy.
PARQUET_BYTES_PER_ARROW_BYTE = 3
#: Rows decoded at a time from a Parquet file.
PARQUET_BATCH = 65_536


def expansion_limit(compressed: int, memory: int) -> int:
    """The most bytes a compressed file of ``compressed`` bytes may expand to, ``memory`` bytes being what
    holding the expansion may use."""
    return min(memory, max(FREE_EXPANSION, MAX_RATIO * compressed))


def refuse_expansion(path: Path, limit: int, memory: int) -> InputError:
    if limit >= memory:
        return InputError(f"{path.name} expands to more than {limit / 2**30:,.1f} GiB, more than the memory "
                          "available to read it: a smaller table, or a machine with more memory")
    return InputError(f"{path.name} expands to more than {limit / 2**20:,.0f} MiB, over {MAX_RATIO} times its "
                      f"compressed size (the most l2cli reads from a compressed file: a \"zip bomb\" looks like "
                      "this); if it is a real table, decompress it first")


def check_workbook(path: Path, available: int) -> int:
    """The declared size of a workbook's parts, checked against the budgets above before anything is parsed."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not an Excel workbook (.xlsx): {exc}") from None
    for part in parts:
        if part.file_size > max(FREE_EXPANSION, MAX_RATIO * part.compress_size):
            raise InputError(f"{path.name}: its part {part.filename[:80]!r} expands from "
                             f"{part.compress_size:,} to {part.file_size:,} bytes, over {MAX_RATIO} times (the most "
                             "l2cli reads from a workbook: a \"zip bomb\" looks like this); save the sheet as CSV")
    expanded = sum(part.file_size for part in parts)
    if expanded > MAX_EXCEL_XML:
        raise InputError(f"{path.name} holds {expanded / 2**20:,.0f} MiB of XML, more than the "
                         f"{MAX_EXCEL_XML / 2**20:,.4g} MiB l2cli parses from a workbook (openpyxl takes about a "
                         "second a MB): save the sheet as CSV or Parquet")
    need = EXCEL_BYTES_PER_XML_BYTE * expanded
    if need > available:
        raise InputError(f"reading {path.name} ({expanded / 2**20:,.0f} MiB of XML) needs about {need / 2**30:,.1f} "
                         f"GiB of memory, and {available / 2**30:,.1f} GiB is available: save the sheet as CSV")
    return expanded


def nested_columns(schema) -> list[str]:
    """The names of a Parquet file's columns that hold structs, lists or maps (an Arrow schema)."""
    import pyarrow as pa

    def nested(t):
        return pa.types.is_nested(t) or (pa.types.is_dictionary(t) and nested(t.value_type))

    return [field.name for field in schema if nested(field.type)]


def check_parquet(path: Path, available: int) -> None:
    """A Parquet file that pandas may read: no nested column, and no more memory needed than ``available``,
    checked first from the rows and columns of its metadata, then by decoding it batch by batch (one batch
    held at a time) and counting its Arrow size: its text may be compressed by dictionary encoding."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    meta = file.metadata
    nested = nested_columns(file.schema_arrow)
    if nested:
        raise InputError(f"{path.name}: column {nested[0]!r} holds structs, lists or maps: a table's cells are "
                         "numbers or text (flatten it first)")
    cells = meta.num_rows * meta.num_columns
    encoded = sum(meta.row_group(k).total_byte_size for k in range(meta.num_row_groups))
    need = 16 * cells + PARQUET_BYTES_PER_ARROW_BYTE * encoded
    if need > available:
        raise InputError(f"reading {path.name} ({meta.num_rows:,} rows of {meta.num_columns} columns) needs about "
                         f"{need / 2**30:,.1f} GiB of memory, and {available / 2**30:,.1f} GiB is available")
    held = 0
    for batch in file.iter_batches(batch_size=PARQUET_BATCH, use_threads=False):
        held += batch.get_total_buffer_size()
        if PARQUET_BYTES_PER_ARROW_BYTE * held > available:
            raise InputError(f"{path.name} decodes to more than {held / 2**30:,.1f} GiB (its text, compressed by "
                             f"dictionary encoding), more than the memory available to read it "
                             f"({available / 2**30:,.1f} GiB)")
