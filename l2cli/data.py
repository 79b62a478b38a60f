"""Datasets: the built-in ones, user CSV files, and the seeded train/val/test split.

Nothing is downloaded: the real datasets are the ones bundled with
scikit-learn, the others are generated from a seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as skd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from .choices import DATASETS, TASKS
from .errors import InputError
from .evaluate import Part, Scorer


@dataclass
class Dataset:
    """Raw features X (n, d) and targets y (n,), before any split or scaling."""

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str] = field(default_factory=list)


def load_builtin(name: str, n_samples: int = 200, noise: float | None = None,
                 n_features: int = 20, n_classes: int = 2, seed: int = 0) -> Dataset:
    """Load or generate a built-in dataset. Options apply to the synthetic ones only."""
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    task = DATASETS[name].task
    if not DATASETS[name].synthetic:
        bunch = getattr(skd, f"load_{name}")()
        return Dataset(name, bunch.data.astype(np.float64), bunch.target, task, list(bunch.feature_names))
    if name == "moons":
        X, y = skd.make_moons(n_samples, noise=0.3 if noise is None else noise, random_state=seed)
    elif name == "circles":
        X, y = skd.make_circles(n_samples, noise=0.1 if noise is None else noise, factor=0.5, random_state=seed)
    elif name == "classification":
        X, y = skd.make_classification(
            n_samples, n_features=n_features, n_informative=min(n_features, 5),
            n_redundant=0, n_classes=n_classes, n_clusters_per_class=1,
            flip_y=0.05 if noise is None else noise, random_state=seed)
    elif name == "regression":
        X, y = skd.make_regression(n_samples, n_features=n_features, n_informative=min(n_features, 5),
                                   noise=10.0 if noise is None else noise, random_state=seed)
    else:  # curve
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 1.0, n_samples)
        y = np.sin(2 * np.pi * x) + rng.normal(0.0, 0.3 if noise is None else noise, n_samples)
        X = x[:, None]
    names = ["x"] if X.shape[1] == 1 else [f"x{j}" for j in range(X.shape[1])]
    return Dataset(name, X.astype(np.float64), y, task, names)


def load_csv(path: str | Path, target: str, task: str = "auto") -> Dataset:
    """Load a CSV file; ``target`` names the column to predict, every other column is a feature.

    Text feature columns are one-hot encoded. The task is inferred when
    ``task = "auto"``: a non-numeric target, or an integer target with at most
    20 distinct values, is a classification target; anything else is regression.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from None
    if not target:
        raise InputError("--target is required with --data: name the column to predict")
    if target not in frame.columns:
        raise InputError(f"target column {target!r} not in {path.name}; columns: {', '.join(map(str, frame.columns))}")
    if frame.isna().any().any():
        bad = [str(c) for c in frame.columns[frame.isna().any()]]
        raise InputError(f"{path.name} has missing values in column(s) {', '.join(bad)}")
    y = frame[target].to_numpy()
    features = pd.get_dummies(frame.drop(columns=[target]), dtype=np.float64)
    if features.shape[1] == 0:
        raise InputError(f"{path.name} has no feature columns besides {target!r}")
    if task == "auto":
        task = infer_task(y)
    elif task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose classification or regression")
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y.dtype):
            raise InputError(f"target column {target!r} is not numeric, so it cannot be a regression target")
        y = y.astype(np.float64)
    return Dataset(path.stem, features.to_numpy(np.float64), y, task, [str(c) for c in features.columns])


def infer_task(y: np.ndarray) -> str:
    if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
        return "classification"
    if np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 20:
        return "classification"
    return "regression"


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
                h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
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
        cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
        return Split(self.task, cast(self.X_train), cast(self.Y_train), self.y_train,
                     cast(self.X_test), cast(self.Y_test), self.y_test,
                     cast(self.X_val), cast(self.Y_val), self.y_val,
                     self.classes, self.target_mean, self.target_scale)


def split_dataset(ds: Dataset, test_size: float = 0.5, val_size: float = 0.0, seed: int = 0,
                  standardize: bool = True, standardize_target: bool = True, n_train: int = 0) -> Split:
    """Seeded train/val/test split (stratified for classification), scaled with training statistics.

    test_size and val_size are fractions of all rows, rounded to whole rows; the rest is training
    data, of which the first ``n_train`` rows of a seeded (stratified) draw are
    used when n_train > 0. The test and validation rows do not depend on n_train.
    """
    if not 0 < test_size < 1 or not 0 <= val_size < 1 or test_size + val_size >= 1:
        raise InputError(f"test_size ({test_size}) and val_size ({val_size}) must be fractions "
                         "that leave training rows")
    classification = ds.task == "classification"
    rows = np.arange(len(ds.y))
    n_test, n_val = round(test_size * len(rows)), round(val_size * len(rows))
    if n_test < 1 or len(rows) - n_test - n_val < 2:
        raise InputError(f"{ds.name} has {len(rows)} rows: test_size {test_size} and val_size {val_size} "
                         "leave too few for training or testing")
    try:
        rest, test = train_test_split(rows, test_size=n_test, random_state=seed,
                                      stratify=ds.y if classification else None)
        val = rows[:0]
        if n_val > 0:
            rest, val = train_test_split(rest, test_size=n_val, random_state=seed,
                                         stratify=ds.y[rest] if classification else None)
    except ValueError as exc:
        raise InputError(f"cannot split {ds.name} ({len(rows)} rows): {exc}") from None
    train = rest
    if n_train:
        if n_train > len(rest):
            raise InputError(f"data.n_train = {n_train} but the training part of {ds.name} has {len(rest)} rows")
        if n_train < len(rest):
            try:
                train, _ = train_test_split(rest, train_size=n_train, random_state=seed,
                                            stratify=ds.y[rest] if classification else None)
            except ValueError as exc:
                raise InputError(f"cannot draw data.n_train = {n_train} rows from {ds.name}: {exc}") from None
    scaler = StandardScaler(with_mean=standardize, with_std=standardize).fit(ds.X[train])
    X = {k: scaler.transform(ds.X[idx]) if len(idx) else ds.X[idx]
         for k, idx in (("train", train), ("val", val), ("test", test))}

    if classification:
        classes = np.unique(ds.y)
        if len(classes) < 2:
            raise InputError(f"{ds.name}: a classification target needs at least 2 classes")
        onehot = lambda y: (y[:, None] == classes[None, :]).astype(np.float64)  # noqa: E731
        Y = {k: onehot(ds.y[idx]) for k, idx in (("train", train), ("val", val), ("test", test))}
        mean, scale = 0.0, 1.0
    else:
        classes = None
        y_train = ds.y[train].astype(np.float64)
        mean = float(y_train.mean()) if standardize_target else 0.0
        scale = float(y_train.std()) if standardize_target and y_train.std() > 0 else 1.0
        Y = {k: ((ds.y[idx].astype(np.float64) - mean) / scale)[:, None]
             for k, idx in (("train", train), ("val", val), ("test", test))}
    has_val = len(val) > 0
    return Split(
        ds.task, X["train"], Y["train"], ds.y[train], X["test"], Y["test"], ds.y[test],
        X["val"] if has_val else None, Y["val"] if has_val else None, ds.y[val] if has_val else None,
        classes, mean, scale,
    )


def cv_folds(split: Split, k: int, seed: int = 0, standardize: bool = True) -> list[Split]:
    """k (train, validation) splits of the *training part* of ``split``; its test rows are in none of them.

    Folds are seeded and stratified for classification. Features are
    re-standardized with each fold's training rows; a regression target keeps
    the training part's scaling, so fold losses share one unit.
    """
    classification = split.task == "classification"
    folder = (StratifiedKFold if classification else KFold)(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    try:
        pieces = list(folder.split(split.X_train, split.y_train))
    except ValueError as exc:
        n = len(split.y_train)
        raise InputError(f"cannot make {k} cross-validation folds of {n} training rows: {exc}") from None
    for train, val in pieces:
        scaler = StandardScaler(with_mean=standardize, with_std=standardize).fit(split.X_train[train])
        folds.append(Split(
            split.task,
            scaler.transform(split.X_train[train]).astype(split.X_train.dtype), split.Y_train[train],
            split.y_train[train], None, None, None,
            scaler.transform(split.X_train[val]).astype(split.X_train.dtype), split.Y_train[val], split.y_train[val],
            split.classes, split.target_mean, split.target_scale))
    return folds


def describe_builtins(n_samples: int = 200, n_features: int = 20, n_classes: int = 2) -> pd.DataFrame:
    """One row per built-in dataset: name, task, rows, features, classes, description.

    The synthetic datasets are described as generated with the given options.
    """
    rows = []
    for name, info in DATASETS.items():
        ds = load_builtin(name, n_samples=n_samples, n_features=n_features, n_classes=n_classes)
        rows.append({"name": name, "task": info.task, "rows": ds.X.shape[0], "features": ds.X.shape[1],
                     "classes": len(np.unique(ds.y)) if info.task == "classification" else None,
                     "description": info.description})
    frame = pd.DataFrame(rows)
    frame["classes"] = pd.Series([r["classes"] for r in rows], dtype=object)  # None for regression
    return frame
