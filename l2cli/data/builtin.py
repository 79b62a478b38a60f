"""Datasets: the built-in ones, user CSV files, and the seeded train/val/test split.

Nothing is downloaded: the real datasets are the ones bundled with
scikit-learn, the others are generated from a seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as skd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from ..errors import InputError
from ..machine.memory import release_free_memory
from ..maths.evaluate import Part, Scorer
from ..vocabulary.choices import DATASETS
from .preprocess import Recipe, check_standardizable
from .table import TableOptions, read_table


@dataclass
class Dataset:
    """Raw features X (n rows, one named column each) and targets y (n,), before any split or scaling.

    ``recipe`` says which columns are numeric and which text and how missing
    values are filled; ``notes`` what was done while reading (said on stderr);
    ``missing`` the counts behind them and ``reading`` the rest of what reading
    decided (date formats, rare classes; manifest.json).
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    task: str
    recipe: Recipe | None = None
    notes: list[str] = field(default_factory=list)
    missing: dict = field(default_factory=dict)
    reading: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.X, pd.DataFrame):
            names = ["x"] if self.X.shape[1] == 1 else [f"x{j}" for j in range(self.X.shape[1])]
            self.X = pd.DataFrame(np.asarray(self.X, dtype=np.float64), columns=names)
        self.X.columns = [str(c) for c in self.X.columns]
        if self.recipe is None:
            self.recipe = Recipe(tuple(self.X.columns), (), None, True)  # a built-in set: numeric, standardized

    @property
    def feature_names(self) -> list[str]:
        return [str(c) for c in self.X.columns]


def declared(**given) -> dict:
    """The given data.* values, each left as None taking its declared default (l2cli.config): the defaults of
    the functions below are the schema's, not copies of them."""
    from ..config import DataConfig

    d = DataConfig()
    return {k: getattr(d, k) if v is None else v for k, v in given.items()}


def load_builtin(name: str, n_samples: int | None = None, noise: float | None = None,
                 n_features: int | None = None, n_classes: int | None = None, seed: int | None = None,
                 modulus: int | None = None) -> Dataset:
    """Load or generate a built-in dataset. Options apply to the generated ones only (None: the declared
    data.* default; data.noise's None is each generator's own; l2cli.data.synthetic)."""
    from .synthetic import generate

    keys = declared(n_samples=n_samples, n_features=n_features, n_classes=n_classes, seed=seed, modulus=modulus)
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    task = DATASETS[name].task
    if not DATASETS[name].synthetic:
        bunch = getattr(skd, f"load_{name}")()
        return Dataset(name, pd.DataFrame(bunch.data.astype(np.float64), columns=list(bunch.feature_names)),
                       bunch.target, task)
    X, y = generate(name, keys["n_samples"], noise, keys["n_features"], keys["n_classes"], keys["seed"],
                    keys["modulus"])
    if name == "modular":
        p = keys["modulus"]
        X = pd.DataFrame(X, columns=[f"a={i}" for i in range(p)] + [f"b={i}" for i in range(p)])
    return Dataset(name, np.asarray(X, dtype=np.float64) if name != "modular" else X, y, task)


def load_csv(path: str | Path, target: str, data=None, **keys) -> Dataset:
    """A table (CSV, Excel, Parquet) as a Dataset, read as the [data] section ``data`` says (a DataConfig, or
    None for the declared defaults), ``keys`` (any data.* key: task, standardize, features, na, …) winning."""
    from ..config import DataConfig

    standardize = keys.pop("standardize", (data or DataConfig()).standardize)
    table = read_table(path, TableOptions.of(data, target=target, **keys), standardize)
    return Dataset(Path(path).stem, table.frame, table.y, table.task, table.recipe, table.notes, table.missing,
                   {"dates": table.dates, "rare_classes": table.classes})


FINGERPRINT_BLOCK_ROWS = 4096


@dataclass
class Split:
    """Standardized arrays of one seeded split, ready for training.

    X_* are (n, d) float arrays; Y_* are (n, K): one-hot rows for
    classification (K = number of classes, 2 for binary; one 0/1 column after
    with_logistic_target), the standardized target for regression (K = 1).
    ``y_*`` keep the raw labels / targets.
    """

    task: str
    X_train: np.ndarray
    Y_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None
    Y_test: np.ndarray | None
    y_test: np.ndarray | None
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    classes: np.ndarray | None = None
    target_mean: float = 0.0
    target_scale: float = 1.0
    features: tuple[str, ...] = ()  # the name of each column of X_*
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # the dataset's row numbers of each part
    raw_train: pd.DataFrame | None = None  # the training rows' raw columns, for the folds to refit the recipe on
    recipe: Recipe | None = None

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.Y_train.shape[1]

    def parts(self) -> list[Part]:
        """The parts of the split that exist, in the order train, test, val."""
        named = (("train", self.X_train, self.Y_train, self.y_train), ("test", self.X_test, self.Y_test, self.y_test),
                 ("val", self.X_val, self.Y_val, self.y_val))
        return [Part(name, X, Y, y) for name, X, Y, y in named if X is not None]

    def scorer(self) -> Scorer:
        """Accuracy or R² on the original target scale, for this split's task."""
        return Scorer(self.task, self.classes, self.target_mean, self.target_scale)

    def fingerprint(self) -> str:
        """SHA-256 over the bytes of every array of the split, in a fixed order."""
        h = hashlib.sha256()
        for a in (self.X_train, self.Y_train, self.X_val, self.Y_val, self.X_test, self.Y_test):
            if a is not None:
                h.update(str(a.shape).encode())
                for start in range(0, len(a), FINGERPRINT_BLOCK_ROWS):  # the same digest, without a whole copy
                    h.update(np.ascontiguousarray(a[start:start + FINGERPRINT_BLOCK_ROWS], dtype=np.float64))
        return h.hexdigest()

    def with_logistic_target(self) -> Split:
        """The split with each Y_* as one 0/1 column (1 for the second class), for a one-output logistic model."""
        if self.task != "classification" or len(self.classes) != 2:
            what = "a regression target" if self.task != "classification" else f"{len(self.classes)} classes"
            raise InputError(f"model.loss = logistic needs a two-class target, and this data has {what}")
        column = lambda Y: None if Y is None else np.ascontiguousarray(Y[:, 1:])  # noqa: E731
        return dataclasses.replace(self, Y_train=column(self.Y_train), Y_test=column(self.Y_test),
                                   Y_val=column(self.Y_val))

    def astype(self, dtype) -> Split:
        cast = lambda a: None if a is None else a.astype(dtype, copy=False)  # noqa: E731
        return dataclasses.replace(self, X_train=cast(self.X_train), Y_train=cast(self.Y_train),
                                   X_test=cast(self.X_test), Y_test=cast(self.Y_test),
                                   X_val=cast(self.X_val), Y_val=cast(self.Y_val))


def split_rows(ds: Dataset, test_size: float, val_size: float, seed: int, n_train: int) -> dict[str, np.ndarray]:
    """Row numbers of the train, val and test parts: seeded, stratified for classification.

    test_size and val_size are fractions of all rows, rounded to whole rows; of
    the rest, a seeded (stratified) draw of ``n_train`` rows when n_train > 0.
    The test and validation rows do not depend on n_train.
    """
    if not 0 < test_size < 1 or not 0 <= val_size < 1 or test_size + val_size >= 1:
        raise InputError(f"test_size ({test_size}) and val_size ({val_size}) must be fractions "
                         "that leave training rows")
    rows = np.arange(len(ds.y))
    n_test, n_val = round(test_size * len(rows)), round(val_size * len(rows))
    if n_test < 1 or len(rows) - n_test - n_val < 2:
        raise InputError(f"{ds.name} has {len(rows)} rows: test_size {test_size} and val_size {val_size} "
                         "leave too few for training or testing")
    strata = (lambda idx: ds.y[idx]) if ds.task == "classification" else (lambda idx: None)  # noqa: E731
    if ds.task == "classification":
        check_stratifiable(ds)
    try:
        rest, test = train_test_split(rows, test_size=n_test, random_state=seed, stratify=strata(rows))
        val = rows[:0]
        if n_val > 0:
            rest, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=strata(rest))
        train = rest
        if n_train and n_train < len(rest):
            train, _ = train_test_split(rest, train_size=n_train, random_state=seed, stratify=strata(rest))
    except ValueError as exc:
        raise InputError(f"cannot split {ds.name} ({len(rows)} rows): {str(exc).splitlines()[0]}") from None
    if n_train > len(rest):
        raise InputError(f"data.n_train = {n_train} but the training part of {ds.name} has {len(rest)} rows")
    return {"train": train, "val": val, "test": test}


def check_stratifiable(ds: Dataset) -> None:
    """A stratified split needs at least 2 classes, and at least 2 rows of each."""
    labels, counts = np.unique(ds.y.astype(str), return_counts=True)
    if len(labels) < 2:
        raise InputError(f"{ds.name}: a classification target needs at least 2 classes, found {len(labels)}")
    small = np.flatnonzero(counts < 2)
    if len(small):
        more = f" (and {len(small) - 1} more such classes)" if len(small) > 1 else ""
        raise InputError(f"{ds.name}: class {str(labels[small[0]])!r} has {counts[small[0]]} row{more}; a stratified "
                         "split needs at least 2 per class: remove those rows or merge the class")


#: A part of a split (training, validation, test rows) smaller than this gets a warning; so do more encoded
#: feature columns than WIDE_SHARE of the training rows.
MIN_PART_ROWS, WIDE_SHARE = 10, 0.5


def small_data_notes(split: Split) -> list[str]:
    """Warnings, naming the numbers, for a split whose parts are too small to trust, or whose features are
    about as many as its training rows (one-hot encoding of a wide text column)."""
    sizes = {name: len(X) for name, X in (("training", split.X_train), ("validation", split.X_val),
                                          ("test", split.X_test)) if X is not None}
    notes = []
    if min(sizes.values()) < MIN_PART_ROWS:
        parts = [f"{n} {name}" for name, n in sizes.items()]
        notes.append(f"warning: the split leaves {', '.join(parts[:-1])} and {parts[-1]} rows: with fewer than "
                     f"{MIN_PART_ROWS} in a part, its losses and the choice of λ rest on a handful of rows")
    d, n = split.n_features, sizes["training"]
    if d >= WIDE_SHARE * n:
        encoded = sum("=" in f for f in split.features)
        what = f" ({encoded} of them one-hot columns of text)" if encoded else ""
        notes.append(f"warning: {d} feature columns{what} for {n} training rows: a model can tell every row "
                     "apart by its columns alone")
    return notes


def encode_targets(ds: Dataset, rows: dict[str, np.ndarray], standardize_target: bool):
    """Y per part (one-hot rows, or the standardized regression target as one column), classes, mean, scale."""
    if ds.task == "classification":
        classes = np.unique(ds.y)
        Y = {k: (ds.y[idx][:, None] == classes[None, :]).astype(np.float64) for k, idx in rows.items()}
        return Y, classes, 0.0, 1.0
    y_train = ds.y[rows["train"]].astype(np.float64)
    if standardize_target:  # a target of 1e-300s cannot be standardized (l2cli.data.preprocess)
        check_standardizable(y_train, "the target")
    mean = float(y_train.mean()) if standardize_target else 0.0
    scale = float(y_train.std()) if standardize_target and y_train.std() > 0 else 1.0
    # (n,) targets become one column; (n, K) targets (the estimators' multi-output regression) stay K columns
    columns = (lambda a: a[:, None] if a.ndim == 1 else a)  # noqa: E731
    Y = {k: columns((ds.y[idx].astype(np.float64) - mean) / scale) for k, idx in rows.items()}
    return Y, None, mean, scale


#: Rows go through a fitted recipe in blocks of about this many raw values, each written into the output: a
#: part's raw rows are never copied whole (every step of a recipe is row by row, so the numbers are the same).
TRANSFORM_BLOCK_VALUES = 2**18


def features(fitted, frame: pd.DataFrame, dtype, rows: np.ndarray | None = None) -> np.ndarray:
    """The rows of ``frame`` (those at ``rows``, default all) through a fitted recipe, transformed in row blocks
    into one C-ordered (n, d) array (the transformers return column-major arrays, which the training loop's
    gathers and products would pay for)."""
    rows = np.arange(len(frame)) if rows is None else rows
    step = max(1, TRANSFORM_BLOCK_VALUES // max(1, frame.shape[1]))
    out = None
    for start in range(0, len(rows), step):
        block = fitted.transform(frame.iloc[rows[start:start + step]])
        if out is None:
            out = np.empty((len(rows), block.shape[1]), dtype)
        out[start:start + len(block)] = block
    release_free_memory()  # the blocks' copies, freed in pieces the next large array could not use
    return out if out is not None else np.ascontiguousarray(fitted.transform(frame.iloc[rows]), dtype=dtype)


def split_dataset(ds: Dataset, test_size: float | None = None, val_size: float | None = None, seed: int | None = None,
                  standardize: bool | None = None, standardize_target: bool | None = None,
                  n_train: int | None = None, keep_raw: bool = True, consume: bool = False) -> Split:
    """Seeded train/val/test split (see split_rows), its features prepared by the dataset's recipe fitted on
    the training rows only (see l2cli.data.preprocess); None: the declared data.* default; keep_raw and
    consume as for split_at."""
    k = declared(test_size=test_size, val_size=val_size, seed=seed, standardize=standardize,
                 standardize_target=standardize_target, n_train=n_train)
    return split_at(ds, split_rows(ds, k["test_size"], k["val_size"], k["seed"], k["n_train"]), k["standardize"],
                    k["standardize_target"], keep_raw, consume)


def split_at(ds: Dataset, rows: dict[str, np.ndarray], standardize: bool, standardize_target: bool,
             keep_raw: bool = True, consume: bool = False) -> Split:
    """The Split of the given row numbers ("train", "val", "test"; an empty part is left out), its features
    prepared by the dataset's recipe fitted on the training rows.

    keep_raw: keep the training rows' raw columns (Split.raw_train), which cross-validation folds, predict and
    the pictures refit the recipe on. consume: release the dataset's table (``ds.X`` becomes None) as soon as
    its rows are gathered into the parts. With both a sweep's way (keep_raw False, consume True), the memory
    taken on the way is at most twice the table: the table and its parts' raw rows, then the raw rows and
    the recipe's fit; each part's raw rows are released as its float matrix is made.
    """
    rows = {"train": rows["train"], "val": rows.get("val", np.arange(0)), "test": rows.get("test", np.arange(0))}
    recipe = dataclasses.replace(ds.recipe, standardize=standardize)
    raw = {k: ds.X.iloc[idx] for k, idx in rows.items() if len(idx) or k == "train"}
    if consume:
        ds.X = None
        release_free_memory()
    fitted = recipe.fit(raw["train"])
    names = tuple(fitted.get_feature_names_out())
    raw_train = raw["train"].reset_index(drop=True) if keep_raw else None
    X = {k: features(fitted, raw.pop(k), np.float64) for k in list(raw)}
    Y, classes, mean, scale = encode_targets(ds, rows, standardize_target)
    part = {k: (X[k], Y[k], ds.y[rows[k]]) if len(rows[k]) else (None, None, None) for k in ("val", "test")}
    return Split(ds.task, X["train"], Y["train"], ds.y[rows["train"]], *part["test"], *part["val"],
                 classes, mean, scale, names, rows, raw_train, recipe)


def cv_folds(split: Split, k: int, seed: int = 0, standardize: bool = True) -> Folds:
    """k (train, validation) splits of the *training part* of ``split``; its test rows are in none of them.

    Folds are seeded and stratified for classification (see fold_splits).
    """
    classification = split.task == "classification"
    folder = (StratifiedKFold if classification else KFold)(n_splits=k, shuffle=True, random_state=seed)
    try:
        pieces = list(folder.split(split.X_train, split.y_train))
    except ValueError as exc:
        n = len(split.y_train)
        raise InputError(f"cannot make {k} cross-validation folds of {n} training rows: {exc}") from None
    return fold_splits(split, pieces, standardize)


def fold_splits(split: Split, pieces, standardize: bool = True) -> Folds:
    """One (train, validation) Split per (train rows, validation rows) pair of ``pieces``, row numbers of the
    training part of ``split``; its test rows are in none of them. See Folds."""
    return Folds(split, list(pieces), standardize)


class Folds(Sequence):
    """The (train, validation) Splits of cross-validation, each made when it is asked for, so that a sweep
    holds one fold's arrays at a time (a fold asked for twice is made twice, the same to the bit).

    The features are prepared again with the recipe fitted on each fold's
    training rows; a regression target keeps the training part's scaling, so
    fold losses share one unit.
    """

    def __init__(self, split: Split, pieces: list, standardize: bool = True):
        self.split, self.pieces = split, pieces
        self.recipe = dataclasses.replace(split.recipe, standardize=standardize)

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        train, val = self.pieces[k]
        split, raw = self.split, self.split.raw_train
        fitted = self.recipe.fit(raw.iloc[train])
        X_train, X_val = (features(fitted, raw, split.X_train.dtype, idx) for idx in (train, val))
        return dataclasses.replace(
            split, X_train=X_train, Y_train=split.Y_train[train], y_train=split.y_train[train],
            X_test=None, Y_test=None, y_test=None, X_val=X_val, Y_val=split.Y_train[val], y_val=split.y_train[val],
            rows={"train": split.rows["train"][train], "val": split.rows["train"][val]},
            raw_train=raw.iloc[train].reset_index(drop=True))


def describe_builtins(n_samples: int | None = None, n_features: int | None = None,
                      n_classes: int | None = None) -> pd.DataFrame:
    """One row per built-in dataset: name, task, rows, features, classes, description.

    The synthetic datasets are described as generated with the given options.
    """
    rows = []
    for name, info in DATASETS.items():
        ds = load_builtin(name, n_samples=n_samples, n_features=n_features, n_classes=n_classes)
        rows.append({"name": name, "task": info.task, "rows": ds.X.shape[0], "features": ds.X.shape[1],
                     "classes": str(len(np.unique(ds.y))) if info.task == "classification" else "",
                     "description": info.description})
    return pd.DataFrame(rows)  # classes as text: empty for a regression set (a number column would say nan)
