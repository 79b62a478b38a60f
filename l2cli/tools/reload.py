"""A run directory as trained models: its data rebuilt and checked, each model's weights, its predictions.

The data are rebuilt from manifest.json (the recorded config; a CSV file found
as ``l2cli verify`` finds it) and must have the recorded SHA-256 fingerprint:
otherwise the pictures and predictions would belong to other data (an
InputError). The models come from weights.npz. New rows go through the run's
own preprocessing: the recipe refitted on the run's training rows gives the
statistics the training used, bit for bit, so predicting the training rows
reproduces summary.csv's training accuracy or R² exactly.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..maths.evaluate import class_index, class_probabilities
from ..maths.network import Params, predict
from ..rundir.run import Run
from ..sweeps.experiment import Experiment


@dataclass
class Reloaded:
    """A run with every grid cell's experiment rebuilt (``experiments[k]`` is cell k, as manifest.json's cells)."""

    run: Run
    experiments: list[Experiment]

    def cell_of(self, index: int) -> int:
        """The grid cell of summary row ``index``."""
        return int(weights_of(self.run)["cell"][index])


def weights_of(run: Run) -> dict[str, np.ndarray]:
    """The arrays of the run's weights.npz (read and checked once)."""
    return run.read_weights()


def model_params(run: Run, index: int) -> Params:
    """The weights of summary row ``index`` as a one-model stack (weights.npz keys W1…WL, b1…bL, or
    g<k>.W1… per grid cell k when the cells' networks differ)."""
    w = weights_of(run)
    k = int(w["cell"][index])
    prefix = f"g{k}." if f"g{k}.W1" in w else ""
    row = index - int(np.flatnonzero(w["cell"] == k)[0]) if prefix else index
    L = sum(1 for key in w if key.startswith(f"{prefix}W") and key[len(prefix) + 1:].isdigit())
    return Params([w[f"{prefix}W{l}"][row:row + 1] for l in range(1, L + 1)],
                  [w[f"{prefix}b{l}"][row:row + 1] for l in range(1, L + 1)])


def missing_data(run: Run) -> str | None:
    """Why the run's data file cannot be found (as given, nor at its recorded absolute path), or None."""
    from pathlib import Path

    from .verify import data_file

    given = run.manifest.get("config", {}).get("data", {}).get("path")
    if given and not Path(data_file(run)).is_file():
        if run.data:
            return f"--data {run.data}: no such file"
        return (f"the run's data file {given} is not found (nor {run.manifest.get('data', {}).get('path_absolute')}); "
                "give its location with --data FILE")
    return None


def reload(run: Run) -> Reloaded:
    """Rebuild the data of every grid cell of ``run`` and check each against its recorded fingerprint (once
    per Run and data location: predicting several files with one Run rebuilds nothing again)."""
    cached = run.__dict__.get("_reloaded")
    if cached is not None and cached[0] == run.data:
        return cached[1]
    reloaded = rebuild(run)
    run.__dict__["_reloaded"] = (run.data, reloaded)
    return reloaded


def rebuild(run: Run) -> Reloaded:
    from ..sweeps.runner import check_fingerprints, prepare_recorded
    from .verify import replay_config

    cfg, _ = replay_config(run)
    experiments = prepare_recorded(cfg, f"the data {run.path} was trained on")
    check_fingerprints(experiments, [g["fingerprint_sha256"] for g in run.manifest["cells"]],
                       f"the data {run.path} was trained on")
    if os.path.lexists(run.path / "weights.npz"):
        from ..rundir.files import check_network

        for k, exp in enumerate(experiments):
            check_network(weights_of(run), run.path / "weights.npz", k, exp.layer_sizes, exp.spec.activation,
                          exp.spec.loss)
    return Reloaded(run, experiments)


def model_row(run: Run, lam: float | None = None, seed: int | None = None, cell: dict | None = None) -> int:
    """The summary row of one model: λ (default: the selected one), seed (default: 0 if the run has it, else
    its first) and grid cell (default: the selected one, else the first)."""
    s = run.summary
    given = lam is not None
    if lam is None:
        lam = run.selection.get("lambda")
        if lam is None:
            raise InputError(f"run {run.path} selected no λ ({run.selection.get('reason', 'no validation data')}): "
                             "choose one with --lambda")
    seeds = list(dict.fromkeys(s["seed"].tolist()))
    seed = (0 if 0 in seeds else seeds[0]) if seed is None else seed
    if seed not in seeds:
        raise InputError(f"--seed {seed}: run {run.path} has seeds {', '.join(map(str, seeds))}")
    hit = np.isclose(s["lambda"].to_numpy(float), lam, rtol=1e-9, atol=0) & (s["seed"] == seed).to_numpy()
    if not hit.any():
        grid = ", ".join(f"{v:g}" for v in dict.fromkeys(s["lambda"].tolist()))
        if not given:  # selection.json names a λ the summary does not have: the run directory is damaged
            raise InputError(f"{run.path}/selection.json: the selected λ {lam:g} is not a λ of summary.csv (its λ: "
                             f"{grid}): the run directory is damaged; choose one with --lambda")
        raise InputError(f"--lambda {lam:g}: not a λ of run {run.path} (its λ: {grid})")
    axes = cell if cell is not None else run.selection.get("axes") or {}
    for key, value in axes.items():
        hit &= (s[key].astype(str) == str(value)).to_numpy()
    return int(np.flatnonzero(hit)[0])


def fitted_recipe(exp: Experiment):
    """The run's preprocessing, fitted on its training rows as in training."""
    return exp.split.recipe.fit(exp.split.raw_train)


def outputs(exp: Experiment, params: Params, raw: pd.DataFrame) -> np.ndarray:
    """The network's outputs Z_L for raw rows (the run's feature columns), (n, K) float64."""
    X = np.ascontiguousarray(fitted_recipe(exp).transform(raw[list(exp.split.raw_train.columns)]), dtype=exp.dtype)
    return predict(params, X, exp.spec.activation)[0].astype(np.float64)


def predicted_classes(exp: Experiment, params: Params, raw: pd.DataFrame) -> np.ndarray:
    """Class indices (into exp.split.classes) of raw rows: the rule behind l2cli's accuracy."""
    return class_index(outputs(exp, params, raw))


def predictions(exp: Experiment, params: Params, raw: pd.DataFrame) -> pd.DataFrame:
    """One row per raw row: ``predicted`` (the class, or the target on its original scale) and, for a
    classifier, ``p_<class>``, the probability of each class."""
    Z = outputs(exp, params, raw)
    s = exp.split
    if s.task != "classification":
        values = Z * s.target_scale + s.target_mean
        if values.shape[1] == 1:
            return pd.DataFrame({"predicted": values[:, 0]})
        return pd.DataFrame({f"predicted_{k}": values[:, k] for k in range(values.shape[1])})
    P = class_probabilities(Z)
    frame = pd.DataFrame({"predicted": s.classes[class_index(Z)]})
    for k, c in enumerate(s.classes):
        frame[f"p_{c}"] = P[:, k]
    return frame


@dataclass
class Rows:
    """New rows to predict: the run's feature columns of the rows that can be answered, their line numbers in
    the file, and why each refused line was refused."""

    frame: pd.DataFrame
    lines: np.ndarray
    refused: dict[int, str]


def check_columns(exp: Experiment, frame: pd.DataFrame, file: str, known: tuple[str, ...]) -> list[str]:
    """The run's feature columns, which must all be in ``frame``; any other column must be one the run knew
    (its target, a dropped column, an --id column: ``known``), or it is an error."""
    from ..config import suggest

    needed = list(exp.split.raw_train.columns)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{file} lacks the feature column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(map(repr, missing))}{suggest(missing[0], list(frame.columns))}; "
                         f"the run's features: {', '.join(needed)}")
    extra = [c for c in frame.columns if c not in needed and c not in known]
    if extra:
        raise InputError(f"{file} has column{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} the run "
                         f"did not train on; its features: {', '.join(needed)} (--id carries a column through)")
    return needed


def as_category(value):
    """A value of a text column as the category text a CSV file gives it: a number read as one (a new file
    whose column holds only numbers) as its text, 3.0 as '3'."""
    if isinstance(value, str) or pd.isna(value):
        return value
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))
    return str(value)


def row_problems(exp: Experiment, rows: pd.DataFrame, file: str, problems: dict[int, str] | None = None
                 ) -> dict[int, str]:
    """{row position: why it cannot be predicted}: a numeric column's value that is not a number or not
    finite, and a missing value when the run imputed nothing (``problems``: those found before, such as a date
    that cannot be read). A numeric column of true/false is refused whole. A text column's numbers become
    their text (its categories are text)."""
    recipe = exp.split.recipe
    problems = dict(problems or {})

    def flag(mask, why):
        for i in np.flatnonzero(np.asarray(mask)):
            problems.setdefault(int(i), why(int(i)))

    for column in recipe.numeric:
        values = rows[column]
        if pd.api.types.is_bool_dtype(values):
            raise InputError(f"{file}: column {column!r} holds true/false; the run read it as numbers")
        numbers = pd.to_numeric(values, errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values
        flag(numbers.isna() & values.notna(), lambda i, c=column: f"{rows[c].iloc[i]!r} in {c!r} is not a number")
        flag(np.isinf(numbers.to_numpy(dtype=float)), lambda i, c=column: f"a value of {c!r} is not finite")
        rows[column] = numbers
    for column in recipe.text:
        if not (pd.api.types.is_object_dtype(rows[column]) or pd.api.types.is_string_dtype(rows[column])):
            rows[column] = rows[column].astype(object).map(as_category)
    if recipe.impute is None:
        for column in rows.columns:
            flag(rows[column].isna(), lambda i, c=column: f"missing value in {c!r}, and the run imputed nothing "
                                                          "(data.na)")
    return problems


def new_rows(exp: Experiment, frame: pd.DataFrame, file: str, known: tuple[str, ...] = (),
             problems: dict[int, str] | None = None) -> Rows:
    """The feature columns of a new table, checked column by column (see check_columns) and row by row
    (see row_problems; ``problems``: rows refused before)."""
    needed = check_columns(exp, frame, file, known)
    rows = frame[needed].copy()
    problems = row_problems(exp, rows, file, problems)
    keep = np.setdiff1d(np.arange(len(rows)), list(problems))
    return Rows(rows.iloc[keep], keep + 2, {int(i) + 2: why for i, why in sorted(problems.items())})


def refusal(file: str, refused: dict[int, str], what: str = "") -> str:
    line, why = next(iter(refused.items()))
    return f"{file} line {line}: {why}{what}; {len(refused)} such row(s)"


def check_usable(run: Run, index: int, params: Params) -> None:
    """A model (summary row ``index``, weights ``params``) that diverged, or whose weights are not all finite,
    predicts nothing (a RunFailure naming it): its classes would be confident nonsense."""
    from ..errors import RunFailure

    row = run.summary.iloc[index]
    finite = all(np.isfinite(a).all() for a in params.arrays())
    if row.get("status") == "diverged" or not finite:
        why = "diverged" if row.get("status") == "diverged" else "has weights that are not finite"
        raise RunFailure(f"the model of λ = {row['lambda']:g}, seed {int(row['seed'])} {why}: it predicts nothing; "
                         "choose another with --lambda and --seed")


def predict_file(run: Run, path, lam: float | None = None, seed: int | None = None, ids: tuple[str, ...] = (),
                 on_error: str = "fail", log=None) -> pd.DataFrame:
    """Predictions of one model of ``run`` (see model_row) for the rows of a table (CSV, Excel, Parquet), read
    as the run read its own (the separator, encoding, decimal mark, date formats). ``ids`` are columns carried
    through to the output, first. A row that cannot be answered (a value that is not a finite number, a missing
    value the run would not impute, an output that is not finite) is an InputError naming its line
    (``on_error`` fail), or left out with one line to ``log`` naming the first and how many (skip)."""
    from pathlib import Path

    from ..data.dates import apply_formats
    from ..data.source import read_frame
    from ..data.table import TableOptions

    path = Path(path)
    index = model_row(run, lam, seed)
    params = model_params(run, index)
    check_usable(run, index, params)
    reloaded = reload(run)
    exp = reloaded.experiments[reloaded.cell_of(index)]
    data = run.manifest["config"]["data"]
    frame = read_frame(path, dataclasses.replace(TableOptions.of(data).reading, sheet=""))
    check_ids(frame, ids, path.name)
    id_columns = frame[list(ids)].copy()  # as written, before any date column becomes years
    unreadable: dict[int, str] = {}  # dates that cannot be read: refused as any other bad value
    apply_formats(frame, exp.reading.get("dates") or {}, path.name, unreadable if on_error == "skip" else None)
    rows = new_rows(exp, frame, path.name, (data.get("target", ""), *data.get("drop", []), *ids), unreadable)
    if rows.refused and len(rows.frame) == 0:
        raise InputError(refusal(path.name, rows.refused, ", and no row of the file can be predicted"))
    with np.errstate(all="ignore"):  # a row far outside the training range is refused below, not warned about
        table = predictions(exp, params, rows.frame)
    values = table.select_dtypes("number").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    refused = {**rows.refused, **{int(rows.lines[i]): "the model's outputs are not finite for this row (a value "
                                  "far outside the training rows')" for i in bad}}
    refused = dict(sorted(refused.items()))
    if refused and on_error == "fail":
        raise InputError(refusal(path.name, refused, " (--on-error skip leaves such rows out)"))
    keep = np.setdiff1d(np.arange(len(table)), bad)
    table = table.iloc[keep].reset_index(drop=True)
    carried = id_columns.iloc[rows.lines[keep] - 2].reset_index(drop=True)
    if refused and log:
        log(f"l2cli: skipped {len(refused)} of {len(frame)} rows: {refusal(path.name, refused)}")
    return pd.concat([carried, table], axis=1)


def check_ids(frame: pd.DataFrame, ids: tuple[str, ...], file: str) -> None:
    from ..config import suggest

    for column in ids:
        if column not in frame.columns:
            raise InputError(f"--id {column}: not a column of {file}{suggest(column, list(frame.columns))}")
        if column == "predicted" or column.startswith(("p_", "predicted_")):
            raise InputError(f"--id {column}: the output has a column of that name; rename it in {file}")
    if len(set(ids)) != len(ids):
        raise InputError("--id names a column twice")
