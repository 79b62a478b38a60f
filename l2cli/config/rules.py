"""The rules between keys, checked when a Config is built and by Config.validate (see l2cli.config)."""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..optim import METHODS

#: l2cli.config.schema's Config and TrainConfig, whose checks call these rules: named here, not imported, so
#: that the schema and its rules do not import each other
Config = TrainConfig = Any


def check_rules(cfg: Config) -> None:
    """The rules that involve more than one key."""
    check_data_rules(cfg)
    if not cfg.sweep.seeds:
        raise InputError("sweep.seeds: give at least one seed")
    if len(set(cfg.sweep.seeds)) != len(cfg.sweep.seeds):
        raise InputError("sweep.seeds: seeds must be distinct")
    if cfg.sweep.address and cfg.sweep.executor != "dask":
        raise InputError("sweep.address is the Dask scheduler's: it goes with sweep.executor = dask (--executor dask)")
    if cfg.sweep.cv == 1:
        raise InputError("sweep.cv: cross-validation needs at least 2 folds (0 turns it off)")
    if cfg.sweep.cv and cfg.data.val_size > 0:
        raise InputError(f"choose one way to select λ: data.val_size = {cfg.data.val_size:g} (a validation split) or "
                         f"sweep.cv = {cfg.sweep.cv} (k-fold); for cross-validation set data.val_size = 0")
    if cfg.sweep.cv and cfg.train.early_stopping:
        raise InputError("train.early_stopping uses a validation split; it cannot be combined with sweep.cv")
    check_selection(cfg)
    check_independent_decay(cfg)
    check_optimizer_keys(cfg)
    check_path(cfg)
    check_size(cfg)


def check_path(cfg: Config) -> None:
    """A warm path saves work only where training stops by itself: L-BFGS, or a first-order optimizer with
    train.tol or train.early_stopping (a fixed number of epochs costs the same from any start)."""
    t = cfg.train
    if cfg.sweep.path == "warm" and not METHODS[t.optimizer].stops_itself and not t.tol and not t.early_stopping:
        raise InputError(f"sweep.path = warm starts each model from the previous λ's, which saves epochs only when "
                         f"training stops by itself: use a minimizer (train.optimizer = lbfgs or cg), or give "
                         f"train.tol or train.early_stopping with {t.optimizer}")


def check_size(cfg: Config) -> None:
    """The number of models, before any data is read: a λ grid of a million terms is refused at once."""
    models = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds) * len(cfg.cells()) * (1 + cfg.sweep.cv)
    if models > cfg.sweep.max_models:
        raise InputError(f"the sweep trains {models:,} models (λ × seeds × grid cells × (1 + folds)), more than "
                         f"sweep.max_models = {cfg.sweep.max_models:,}: a smaller grid, or --set "
                         f"sweep.max_models={models}")


def check_data_rules(cfg: Config) -> None:
    """The rules between [data] keys."""
    if cfg.data.test_size + cfg.data.val_size >= 1:
        raise InputError("data.test_size + data.val_size must leave training rows (sum < 1)")
    if cfg.train.early_stopping and cfg.data.val_size == 0:
        raise InputError("train.early_stopping needs a validation split: set data.val_size > 0")
    if cfg.data.path and "data.dataset" in cfg.given:  # the conflict first: which data is meant decides the rest
        raise InputError("data.dataset and data.path both name the data (--dataset and --data): give one")
    if cfg.data.path and not cfg.data.target:
        raise InputError("data.target is required with a CSV file: name the column to predict")
    table_keys = ("target", "features", "drop", "dates", "sheet", "encoding", "decimal", "thousands", "na_drop_limit",
                  "min_class_rows", "rare_classes", "max_classes")
    for name in table_keys:
        if (getattr(cfg.data, name) if name in table_keys[:5] else f"data.{name}" in cfg.given) and not cfg.data.path:
            raise InputError(f"data.{name} applies to a table file: give one with --data FILE (data.path)")
    if cfg.data.thousands and cfg.data.thousands == cfg.data.decimal:
        raise InputError(f"data.thousands and data.decimal are both {cfg.data.decimal!r}: a number needs two marks")


def check_selection(cfg: Config) -> None:
    """The selection rule must have what it needs: 1se a standard error (over folds, or over seeds), evidence
    the curvature diagnostics."""
    if cfg.sweep.select == "evidence" and cfg.sweep.curvature == "off":
        raise InputError("sweep.select = evidence needs the log evidence of each model: sweep.curvature = auto, on, "
                         "exact or lanczos, not off")
    if cfg.sweep.select == "1se" and not cfg.sweep.cv and cfg.data.val_size > 0 and len(cfg.sweep.seeds) < 2:
        raise InputError("sweep.select = 1se needs the standard error of the validation loss, and a validation split "
                         "with one seed has none: give two or more seeds (--seeds 0,1,2) or select by k-fold "
                         "cross-validation (--cv 5), whose standard error is over the folds")


def check_independent_decay(cfg: Config) -> None:
    """With train.decay = independent (in any grid cell), λ is the fraction of θ taken off at each step: < 1."""
    decays = {cell.get("train.decay", cfg.train.decay) for cell in cfg.cells()}
    if "independent" in decays and max(cfg.sweep.lambdas) >= 1:
        raise InputError(f"sweep.lambdas: with train.decay = independent, λ is the fraction of every weight taken off "
                         f"at each step (θ ← (1 − λ)θ), so it must be below 1; got {max(cfg.sweep.lambdas):g}")


def check_optimizer_keys(cfg: Config) -> None:
    """A key given explicitly (a file, --set, a flag) must be one the optimizer reads (l2cli.optim.METHODS)."""
    name = cfg.train.optimizer
    own = [f"train.{k}" for k in METHODS[name].keys]
    others = dict.fromkeys(f"train.{k}" for m in METHODS.values() for k in m.keys if f"train.{k}" not in own)
    unread = [k for k in others if k in cfg.given]
    if unread:
        readers = sorted(m.name for m in METHODS.values() if f"train.{unread[0].split('.')[1]}" in
                         {f"train.{k}" for k in m.keys})
        raise InputError(f"{', '.join(unread)} do{'es' if len(unread) == 1 else ''} not apply to train.optimizer = "
                         f"{name}, which reads {', '.join(own)}; {unread[0]} applies to "
                         f"{', '.join(readers)}")
    check_train_rules(cfg.train)


def check_train_rules(train: TrainConfig) -> None:
    """The rules between [train] values (the scikit-learn estimators check these too)."""
    method = METHODS[train.optimizer]
    name = train.optimizer
    if train.decay not in method.decays:
        raise InputError(f"train.decay = {train.decay} does not apply to train.optimizer = {name}: {train.decay} "
                         f"decay shrinks θ at each step of a first-order rule, and {name} takes none (it minimizes "
                         "J = L + λΩ, which is decay = l2)")
    if train.early_stopping and not method.early_stopping:
        raise InputError(f"train.early_stopping does not apply to train.optimizer = {name}, which runs each model "
                         f"to its minimum ({', '.join(f'train.{k}' for k in method.keys)})")
