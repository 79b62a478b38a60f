"""What each file of a run directory may hold, checked when it is read (and weights.npz, how it is written):
a run directory's content is data, never believed.

Every file is opened without following a link (``O_NOFOLLOW``; a FIFO or a
device is refused before it is opened), only up to a size limit, and its
content is checked against its schema before anything uses it: the tables'
required columns and their types, weights.npz's members (numbers only, no
pickled objects), their shapes layer to layer, one row per model of
summary.csv. A failure is one InputError naming the file and what is wrong,
never the file's content. Text cells that l2cli writes from user-supplied names
(features, classes, columns) are escaped for spreadsheets on the way out and
unescaped on the way in (see l2cli.rundir.formats.spreadsheet_safe).
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError

#: The largest table and weights file read from a run directory.
MAX_TABLE_BYTES = MAX_WEIGHTS_BYTES = 4 * 2**30

#: The columns each table must have, and what their values must be.
REQUIRED = {"summary": ("lambda", "seed", "status"), "history": ("lambda", "seed", "epoch"),
            "aggregate": ("lambda",), "features": ("lambda", "seed", "feature", "norm"), "cv": ("lambda", "seed")}
INTEGERS = ("seed", "epoch", "epochs", "fold")
STATUSES = ("completed", "converged", "early_stopped", "diverged", "max_iter", "stalled")
#: How a model of a warm path started (summary.csv's start column, absent in cold runs).
STARTS = ("cold", "warm")

#: The member of weights.npz that describes each grid cell's network (JSON text; absent in older runs).
NETWORK = "network"


def regular_file(path: Path, limit: int, what: str = "l2cli reads from a run directory") -> os.stat_result:
    """The status of ``path``, a regular file (not a link, a FIFO or a device) of at most ``limit`` bytes;
    ``what`` ends the message of a larger one."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise InputError(f"{path} is missing: the run directory is incomplete") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is not a regular file (a link, FIFO or device): l2cli does not read it")
    if info.st_size > limit:
        raise InputError(f"{path} is {info.st_size / 2**20:,.0f} MiB, more than the {limit // 2**20:,} MiB {what}")
    return info


def open_file(path: Path, limit: int):
    """``path`` opened for reading, with no-follow semantics, after the checks of regular_file."""
    regular_file(path, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return os.fdopen(fd, "rb")


def read_run_table(path: Path, name: str):
    """A table of a run directory as a DataFrame, checked: its required columns are there, λ is finite and
    ≥ 0, seeds and epochs are whole numbers ≥ 0."""
    import pandas as pd

    from .formats import unescape

    with open_file(path, MAX_TABLE_BYTES) as fh:
        try:
            frame = pd.read_csv(fh)
        except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise InputError(f"{path} cannot be read as a table ({type(exc).__name__}): the run directory is "
                             "damaged") from None
    lacking = [c for c in REQUIRED.get(name, ()) if c not in frame.columns]
    if lacking:
        raise InputError(f"{path} lacks the column{'s' if len(lacking) > 1 else ''} {', '.join(lacking)}: not a "
                         f"{name}.csv l2cli wrote")
    for column in ("lambda", *(c for c in INTEGERS if c in frame.columns), *(("norm",) if name == "features" else ())):
        if column in frame.columns:
            check_column(frame[column], column, path)
    if name == "summary":
        for column, allowed in (("status", STATUSES), ("start", STARTS)):
            unknown = sorted(set(frame[column].astype(str)) - set(allowed)) if column in frame else []
            if unknown:
                raise InputError(f"{path}: column {column} holds {len(unknown)} value(s) l2cli never writes")
    return unescape(frame)


def check_column(values, column: str, path: Path) -> None:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna() if column == "norm" else numbers.isna()
    if column != "norm":
        bad |= ~np.isfinite(numbers.to_numpy(float, na_value=np.nan)) | (numbers < 0)
    if column in INTEGERS:
        bad |= numbers % 1 != 0
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        kind = "whole numbers ≥ 0" if column in INTEGERS else "numbers" if column == "norm" else "finite numbers ≥ 0"
        raise InputError(f"{path} line {row}: column {column} must hold {kind}")


def weight_arrays(cells) -> dict[str, np.ndarray]:
    """weights.npz of trained grid cells (l2cli.sweeps.cells.Cell): row m of every array is row m of summary.csv.

    lambda, seed, cell (M,); W1..WL (M, n_in, n_out) and b1..bL (M, n_out) when
    every cell has the same layer sizes, otherwise g<k>.W1 … per cell k; network, each cell's layer sizes,
    activation and loss (JSON text), which the readers check the manifest against.
    """
    out = {"lambda": np.concatenate([[p.lam for p in c.trained.points] for c in cells]),
           "seed": np.concatenate([[p.seed for p in c.trained.points] for c in cells]).astype(np.uint32),
           "cell": np.concatenate([np.full(len(c.trained.points), k) for k, c in enumerate(cells)]),
           "network": network_member([{"layer_sizes": list(c.experiment.layer_sizes),
                                       "activation": c.experiment.spec.activation, "loss": c.experiment.spec.loss}
                                      for c in cells])}
    if len({c.experiment.layer_sizes for c in cells}) == 1:
        params = [c.trained.params for c in cells]
        for l in range(len(params[0].W)):
            out[f"W{l + 1}"] = np.concatenate([p.W[l] for p in params])
            out[f"b{l + 1}"] = np.concatenate([p.b[l] for p in params])
        return out
    for k, c in enumerate(cells):
        for l, (W, b) in enumerate(zip(c.trained.params.W, c.trained.params.b, strict=True), start=1):
            out[f"g{k}.W{l}"], out[f"g{k}.b{l}"] = W, b
    return out


def read_weights(path: Path, models: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of weights.npz, checked: numbers only (nothing pickled), a ``cell`` of whole numbers, and
    for every grid cell W1…WL (M, n_in, n_out) and b1…bL (M, n_out) whose sizes chain layer to layer and
    whose rows are that cell's models; ``models`` is summary.csv's row count."""
    with open_file(path, MAX_WEIGHTS_BYTES) as fh:
        try:
            with np.load(fh, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise InputError(f"{path} cannot be read as l2cli's weights ({type(exc).__name__}): the run directory "
                             "is damaged") from None
    if "cell" not in arrays and "group" in arrays:  # the name of run directories written before 2 December 2026
        arrays["cell"] = arrays.pop("group")
    check_weights(arrays, path, models)
    return arrays


def check_weights(arrays: dict, path: Path, models: int | None) -> None:
    for key, a in arrays.items():
        if key == NETWORK:
            continue
        if a.dtype.kind not in "fiu":
            raise InputError(f"{path}: member {key!r} holds {a.dtype}, not numbers")
    if "cell" not in arrays or arrays["cell"].ndim != 1 or "lambda" not in arrays:
        raise InputError(f"{path} has no cell and lambda members of one row per model: not l2cli's weights")
    cell = arrays["cell"]
    n = len(cell)
    if models is not None and n != models:
        raise InputError(f"{path} holds {n} models and summary.csv {models} rows: the run directory is damaged")
    if any(len(arrays[k]) != n for k in ("lambda", "seed") if k in arrays and arrays[k].ndim == 1):
        raise InputError(f"{path}: lambda, seed and cell differ in length")
    cells = sorted({int(g) for g in np.unique(cell)}) if n else []
    shared = "W1" in arrays
    for k in cells if not shared else [None]:
        prefix = "" if k is None else f"g{k}."
        rows = n if k is None else int(np.sum(cell == k))
        layers = sum(1 for key in arrays if key.startswith(f"{prefix}W") and key[len(prefix) + 1:].isdigit())
        if not layers:
            raise InputError(f"{path} has no weights for grid cell {k}: the run directory is damaged")
        width = None
        for l in range(1, layers + 1):
            W, b = arrays.get(f"{prefix}W{l}"), arrays.get(f"{prefix}b{l}")
            if W is None or b is None or W.ndim != 3 or b.ndim != 2 or len(W) != rows or len(b) != rows \
                    or b.shape[1] != W.shape[2] or (width is not None and W.shape[1] != width):
                raise InputError(f"{path}: the shapes of {prefix}W{l} and {prefix}b{l} do not make layer {l} of a "
                                 "network of these models")
            width = W.shape[2]


def layer_sizes(arrays: dict, cell: int) -> tuple[int, ...]:
    """The layer sizes (n₀, …, n_L) of grid cell ``cell``'s networks, from its weights' shapes."""
    prefix = f"g{cell}." if f"g{cell}.W1" in arrays else ""
    layers = sum(1 for key in arrays if key.startswith(f"{prefix}W") and key[len(prefix) + 1:].isdigit())
    return (arrays[f"{prefix}W1"].shape[1], *(arrays[f"{prefix}W{l}"].shape[2] for l in range(1, layers + 1)))


def network_member(networks: list[dict]) -> np.ndarray:
    """The NETWORK member: each grid cell's layer sizes, activation and loss, as JSON text."""
    return np.array(json.dumps(networks))


def check_network(arrays: dict, path: Path, cell: int, sizes, activation: str, loss: str) -> None:
    """The network the manifest describes for a grid cell (as rebuilt) must be the one the weights are of:
    the same layer sizes (their shapes), and the activation and loss recorded with them."""
    if tuple(sizes) != layer_sizes(arrays, cell):
        raise InputError(f"{path}: grid cell {cell}'s weights are of a {'-'.join(map(str, layer_sizes(arrays, cell)))}"
                         f" network, and manifest.json describes {'-'.join(map(str, sizes))}: refused")
    if NETWORK not in arrays:
        return  # an older run: the shapes are all there is to compare
    try:
        recorded = json.loads(str(arrays[NETWORK]))[cell]
        same = recorded["activation"] == activation and recorded["loss"] == loss
    except (ValueError, TypeError, KeyError, IndexError):
        raise InputError(f"{path}: the network member is damaged") from None
    if not same:
        raise InputError(f"{path}: grid cell {cell}'s weights were trained with activation {recorded['activation']} "
                         f"and loss {recorded['loss']}, and manifest.json says {activation} and {loss}: refused")


def _fail(path: Path, what: str):
    raise InputError(f"{path}: {what}: not a manifest l2cli wrote, or a damaged one")


def _need(mapping: dict, key: str, kind: type, where: str, path: Path):
    value = mapping.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        _fail(path, f"{where}{key} is missing or not {kind.__name__}")
    return value


def _is_count(value, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= 1_000_000_000


def check_cell(cell, k: int, path: Path) -> None:
    """One entry of manifest.json's cells: a grid cell's axes, network, data fingerprint and layout."""
    where = f"cells[{k}]."
    if not isinstance(cell, dict):
        _fail(path, f"cells[{k}] is not an object")
    if any(not isinstance(a, str) for a in _need(cell, "axes", dict, where, path)):
        _fail(path, f"{where}axes has a key that is not text")
    sizes = _need(cell, "layer_sizes", list, where, path)
    if len(sizes) < 2 or not all(_is_count(n) for n in sizes):
        _fail(path, f"{where}layer_sizes is not a list of sizes ≥ 1")
    fingerprint = _need(cell, "fingerprint_sha256", str, where, path)
    if len(fingerprint) != 64 or any(c not in "0123456789abcdef" for c in fingerprint):
        _fail(path, f"{where}fingerprint_sha256 is not a SHA-256")
    layout = _need(cell, "layout", dict, where, path)
    for key in ("chunk_size", "workers", "threads"):
        if not _is_count(layout.get(key)):
            _fail(path, f"{where}layout.{key} is not a count ≥ 1")


def check_manifest(doc: dict, path: Path) -> dict:
    """manifest.json's structure, checked before any reader uses it: the keys every command reads, with their
    types (the config itself is checked, key by key, when a command builds a Config from it)."""
    _need(doc, "l2cli_manifest", int, "", path)
    config = _need(doc, "config", dict, "", path)
    for section in ("data", "model", "train", "sweep"):
        _need(config, section, dict, "config.", path)
    for key, mapping in (("grid", config), ("data", doc), ("network", doc)):
        if key in mapping and not isinstance(mapping[key], dict):
            _fail(path, f"{key} is not an object")
    if "cells" not in doc and "groups" in doc:  # the name of run directories written before 2 December 2026
        doc["cells"] = doc.pop("groups")
    cells = _need(doc, "cells", list, "", path)
    if not cells:
        _fail(path, "cells is empty")
    for k, cell in enumerate(cells):
        check_cell(cell, k, path)
    check_record_fields(doc, path)
    check_run_notes(doc, path)
    return doc


def check_run_notes(doc: dict, path: Path) -> None:
    """What the manifest says of how the run went, of the shapes l2cli writes: status_counts (status → count),
    curvature (its notes and reason text), numeric_warnings (a count, message → count, the diverged models)."""
    counts = doc.get("status_counts")
    if counts is not None and not (isinstance(counts, dict) and all(_is_count(n) or n == 0 for n in counts.values())):
        _fail(path, "status_counts is not a table of counts")
    curvature = doc.get("curvature")
    if curvature is not None and not (isinstance(curvature, dict)
                                      and all(isinstance(n, str) for n in _list(curvature.get("notes")))
                                      and isinstance(curvature.get("reason", ""), str)):
        _fail(path, "curvature is not a table with notes in text")
    warned = doc.get("numeric_warnings")
    if warned is not None and not (isinstance(warned, dict) and _is_count(warned.get("count"))
                                   and isinstance(warned.get("kinds"), dict)
                                   and all(_is_count(n) for n in warned["kinds"].values())
                                   and all(isinstance(m, dict) for m in _list(warned.get("diverged_models")))):
        _fail(path, "numeric_warnings is not a count with its kinds and models")


def _list(value) -> list:
    """A list field: itself, [] when absent or null, and a list holding anything else (which then fails)."""
    return value if isinstance(value, list) else [] if value is None else [None]


def check_record_fields(doc: dict, path: Path) -> None:
    """The manifest's record of the run: when, what command, how many models, in what environment."""
    for key in ("started", "finished"):
        if key in doc and not isinstance(doc[key], str):
            _fail(path, f"{key} is not text")
    if "command" in doc and not (isinstance(doc["command"], list) and all(isinstance(a, str) for a in doc["command"])):
        _fail(path, "command is not a list of arguments")
    if "models" in doc and not _is_count(doc["models"]):
        _fail(path, "models is not a count ≥ 1")
    if isinstance(doc.get("data"), dict) and not isinstance(doc["data"].get("name", ""), str):
        _fail(path, "data.name is not text")
    if "environment" in doc:
        from ..machine.environment import check_record

        wrong = check_record(doc["environment"])
        if wrong:
            _fail(path, f"environment: {wrong}")


def _is_lambda(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


#: selection.json's fields every reader may take, with the kinds they may hold (None: absent or null)
SELECTION_FIELDS = {"axes": dict, "rule": str, "source": str, "reason": str, "reason_code": str, "metric": str,
                    "at_edge": bool, "remarks": list, "table": list, "choices": dict, "within_1se": list,
                    "by_evidence": dict, "by_validation": dict, "left_out_reason": str, "se_over": str}
#: the numbers of selection.json, at its top, in each table row and in each choice (None: absent or null)
SELECTION_NUMBERS = ("val_loss_mean", "val_loss_se", "min_val_loss_mean", "se", "se_n", "n_candidates",
                     "win_frequency", "test_loss_mean", "n_left_out")


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _check_selection_numbers(doc: dict, fail) -> None:
    """Each table row's λ and within_1se, and every number of the document, of the kinds l2cli writes."""
    if not all(_is_lambda(row.get("lambda")) and isinstance(row.get("within_1se", False), bool)
               for row in doc.get("table") or []):
        fail("a row of its table has no λ, or a within_1se that is not true or false")
    places = [doc, *(doc.get("table") or []), *(v for v in (doc.get("choices") or {}).values() if isinstance(v, dict)),
              *(doc.get(k) for k in ("by_evidence", "by_validation") if isinstance(doc.get(k), dict))]
    if not all(_is_number(place.get(key)) for place in places for key in SELECTION_NUMBERS):
        fail("a number of it is not a number")


def check_selection(doc: dict, path: Path) -> dict:
    """selection.json's structure, checked before any reader (predict, show, runs, verify, a library user) uses
    it: the chosen λ null or a finite number ≥ 0, every other field of the kind l2cli writes, the λ of the
    one-standard-error set finite numbers, each table row an object."""
    def fail(what: str):
        raise InputError(f"{path}: {what}: not a selection l2cli wrote, or a damaged one")

    lam = doc.get("lambda")
    if lam is not None and not _is_lambda(lam):
        fail("its lambda is not a finite number ≥ 0")
    for key, kind in SELECTION_FIELDS.items():
        value = doc.get(key)
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            fail(f"{key} is not {kind.__name__}")
    if not all(_is_lambda(x) for x in doc.get("within_1se") or []):
        fail("within_1se holds something that is not a λ")
    if not all(isinstance(row, dict) for row in doc.get("table") or []):
        fail("a row of its table is not an object")
    _check_selection_numbers(doc, fail)
    if not all(isinstance(r, str) for r in doc.get("remarks") or []):
        fail("a remark is not text")
    for name in ("by_evidence", "by_validation", *((doc.get("choices") or {}).keys())):
        choice = (doc.get(name) if name in ("by_evidence", "by_validation") else doc["choices"][name])
        if choice is not None and (not isinstance(choice, dict) or (choice.get("lambda") is not None
                                                                    and not _is_lambda(choice.get("lambda")))):
            fail(f"the choice {name} is not an object with a λ")
    return doc
