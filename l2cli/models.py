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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError
from .evaluate import class_index, class_probabilities
from .experiment import Experiment
from .network import Params, predict
from .rundir import Run


@dataclass
class Reloaded:
    """A run with every grid cell's experiment rebuilt (``experiments[k]`` is cell k, as manifest groups)."""

    run: Run
    experiments: list[Experiment]

    def cell_of(self, index: int) -> int:
        """The grid cell of summary row ``index``."""
        return int(weights_of(self.run)["group"][index])


def weights_of(run: Run) -> dict[str, np.ndarray]:
    """The arrays of the run's weights.npz (read once)."""
    if run.weights is None:
        file = run.path / "weights.npz"
        if not file.is_file():
            raise InputError(f"run {run.path} has no weights.npz (it ran with output.weights = false)")
        with np.load(file) as npz:
            run.weights = {k: npz[k] for k in npz.files}
    return run.weights


def model_params(run: Run, index: int) -> Params:
    """The weights of summary row ``index`` as a one-model stack (weights.npz keys W1…WL, b1…bL, or
    g<k>.W1… per grid cell k when the cells' networks differ)."""
    w = weights_of(run)
    k = int(w["group"][index])
    prefix = f"g{k}." if f"g{k}.W1" in w else ""
    row = index - int(np.flatnonzero(w["group"] == k)[0]) if prefix else index
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
    """Rebuild the data of every grid cell of ``run`` and check each against its recorded fingerprint."""
    from .runner import check_fingerprints, prepare_cells
    from .verify import replay_config

    cfg, _ = replay_config(run)
    experiments = prepare_cells(cfg)
    check_fingerprints(experiments, [g["fingerprint_sha256"] for g in run.manifest["groups"]],
                       f"the data {run.path} was trained on")
    return Reloaded(run, experiments)


def model_row(run: Run, lam: float | None = None, seed: int | None = None, cell: dict | None = None) -> int:
    """The summary row of one model: λ (default: the selected one), seed (default: 0 if the run has it, else
    its first) and grid cell (default: the selected one, else the first)."""
    s = run.summary
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


def new_rows(exp: Experiment, frame: pd.DataFrame, file: str, known: tuple[str, ...] = ()) -> pd.DataFrame:
    """The feature columns of a new table, checked: every feature the run used must be there, and any other
    column must be one the run knew (its target or a dropped column, ``known``), or it is an error."""
    from .config import suggest

    needed = list(exp.split.raw_train.columns)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{file} lacks the feature column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(map(repr, missing))}{suggest(missing[0], list(frame.columns))}; "
                         f"the run's features: {', '.join(needed)}")
    extra = [c for c in frame.columns if c not in needed and c not in known]
    if extra:
        raise InputError(f"{file} has column{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} the run "
                         f"did not train on; its features: {', '.join(needed)}")
    rows = frame[needed]
    recipe = exp.split.recipe
    for column in recipe.numeric:
        if pd.api.types.is_bool_dtype(rows[column]):
            raise InputError(f"{file}: column {column!r} holds true/false; the run read it as numbers")
        if not pd.api.types.is_numeric_dtype(rows[column]):
            value = rows[column][pd.to_numeric(rows[column], errors="coerce").isna() & rows[column].notna()].iloc[0]
            raise InputError(f"{file}: column {column!r} holds {value!r}; the run read it as numbers")
    numbers = rows[list(recipe.numeric)].to_numpy(dtype=float) if len(recipe.numeric) else np.zeros((len(rows), 0))
    infinite = np.flatnonzero(np.isinf(numbers).any(axis=1))
    if len(infinite):
        raise InputError(f"{file} line {infinite[0] + 2}: a value is not finite; {len(infinite)} such row(s)")
    if recipe.impute is None and rows.isna().any().any():
        column = rows.columns[rows.isna().any()][0]
        line = int(np.flatnonzero(rows[column].isna())[0]) + 2  # the header is line 1
        raise InputError(f"{file} line {line}: missing value in {column!r}, and the run imputed nothing "
                         "(data.na): fill it or drop the row")
    return rows


def check_usable(run: Run, index: int, params: Params) -> None:
    """A model (summary row ``index``, weights ``params``) that diverged, or whose weights are not all finite,
    predicts nothing (a RunFailure naming it): its classes would be confident nonsense."""
    from .errors import RunFailure

    row = run.summary.iloc[index]
    finite = all(np.isfinite(a).all() for a in params.arrays())
    if row.get("status") == "diverged" or not finite:
        why = "diverged" if row.get("status") == "diverged" else "has weights that are not finite"
        raise RunFailure(f"the model of λ = {row['lambda']:g}, seed {int(row['seed'])} {why}: it predicts nothing; "
                         "choose another with --lambda and --seed")


def predict_file(run: Run, path, lam: float | None = None, seed: int | None = None) -> pd.DataFrame:
    """Predictions of one model of ``run`` (see model_row) for the rows of a CSV file, read as the run read
    its own (the separator, ISO dates as fractional years)."""
    from pathlib import Path

    from .table import convert_dates, read_frame, separator

    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    index = model_row(run, lam, seed)
    params = model_params(run, index)
    check_usable(run, index, params)
    reloaded = reload(run)
    exp = reloaded.experiments[reloaded.cell_of(index)]
    data = run.manifest["config"]["data"]
    frame = convert_dates(read_frame(path, separator(path, data.get("sep", "auto"))), [])
    rows = new_rows(exp, frame, path.name, (data.get("target", ""), *data.get("drop", [])))
    with np.errstate(all="ignore"):  # a row far outside the training range is refused below, not warned about
        table = predictions(exp, params, rows)
    values = table.select_dtypes("number").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise InputError(f"{path.name} line {bad[0] + 2}: the model's outputs are not finite for this row (a value "
                         f"far outside the training rows', or not finite itself); {len(bad)} such row(s)")
    return table
