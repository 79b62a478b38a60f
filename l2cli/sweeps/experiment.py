"""From a config to an experiment: the data loaded and split, the network, objective and schedule fixed.

This is where the configuration ends: everything below (the plan, the layout,
the executors, the training loop) receives an :class:`Experiment`, a
:class:`~l2cli.sweeps.layout.Compute` and a list of points, never the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..config import Config, ModelConfig, TrainConfig
from ..data.builtin import Dataset, Split, load_builtin, load_csv, small_data_notes, split_dataset
from ..errors import InputError
from ..machine.memory import check_fits
from ..maths.evaluate import Scorer
from ..maths.objective import Spec
from ..optim import hyper_values
from ..training.train import Arrays, Schedule
from ..vocabulary.choices import DATASETS, DEFAULT_INIT
from .layout import Compute, bytes_per_model


@dataclass
class Experiment:
    """Everything a point of a sweep needs besides its λ and seed."""

    split: Split
    spec: Spec
    schedule: Schedule
    layer_sizes: tuple[int, ...]
    init: str
    dtype: np.dtype
    path: str  # sweep.path: cold (every model from its initialisation) or warm (l2cli.training.warm)
    features: tuple[str, ...] = ()  # the name of each input, in the order of the rows of W_1
    notes: tuple[str, ...] = ()  # what reading the data did (rows dropped, dates converted, …)
    missing: dict = field(default_factory=dict)  # missing-value counts and policy of a CSV file
    reading: dict = field(default_factory=dict)  # what else reading a table decided: date formats, rare classes

    @property
    def arrays(self) -> Arrays:
        s = self.split
        return Arrays(s.X_train, s.Y_train, s.X_test, s.Y_test, s.X_val, s.Y_val)

    @property
    def scorer(self) -> Scorer:
        return self.split.scorer()


#: the data.* keys that say how to read a table (l2cli.data.table.TableOptions)
def load_data(cfg: Config) -> Dataset:
    """The configured dataset: a CSV file (data.path) or a built-in one, with data.task applied."""
    d = cfg.data
    if d.path:
        return load_csv(d.path, d.target, d)
    if DATASETS[d.dataset].synthetic:  # generated: estimate before generating (X, y and the split's copies)
        from ..data.synthetic import columns, rows

        n = rows(d.dataset, d.n_samples, d.modulus)
        check_fits(6 * 8 * n * (columns(d.dataset, d.n_features, d.modulus) + 1),
                   f"data.n_samples = {n:,} rows of {d.dataset}" if d.dataset != "modular"
                   else f"data.modulus = {d.modulus}: {n:,} pairs")
    ds = load_builtin(d.dataset, d.n_samples, d.noise, d.n_features, d.n_classes, d.seed, d.modulus)
    if d.task != "auto":
        ds.task = d.task
    return ds


@dataclass
class Prepared:
    """A config's data, read, checked and split: what every grid cell with the same [data] keys shares."""

    split: Split
    notes: list[str]
    missing: dict
    reading: dict


def prepare_data(cfg: Config, keep_raw: bool = True) -> Prepared:
    """Load, check and split the data of ``cfg`` (see prepare)."""
    d = cfg.data
    ds = load_data(cfg)
    numeric = ds.X.select_dtypes("number")
    columns = (numeric[c].to_numpy(dtype=float) for c in numeric.columns)  # one at a time: no copy of the table
    check_finite([*columns, ds.y] if ds.task == "regression" else columns, cfg, "as generated or read",
                 missing_allowed=True)
    del numeric, columns
    split = split_dataset(ds, d.test_size, d.val_size, d.seed, d.standardize, d.standardize_target,
                          d.n_train, keep_raw, consume=True)
    prepared = Prepared(split, ds.notes, ds.missing, ds.reading)
    del ds  # the table is not kept through training: only the split's float matrices are
    check_finite((split.X_train, split.Y_train, split.X_val, split.Y_val, split.X_test, split.Y_test), cfg,
                 "after standardizing")
    return prepared


def prepare(cfg: Config, keep_raw: bool = True, data: Prepared | None = None) -> Experiment:
    """Check the config's cross-key rules, load and split the data, fix the network and objective.

    keep_raw: keep the raw training rows (Split.raw_train; for cross-validation, predict and pictures).
    data: the data as prepare_data gave it for a config with the same [data] keys (a grid cell's neighbour),
    shared instead of read again.
    """
    cfg.validate()
    data = data or prepare_data(cfg, keep_raw)
    split = data.split
    exp = assemble(cfg.model, cfg.train, split, cfg.sweep.path, [*data.notes, *small_data_notes(split)],
                   data.missing)
    exp.reading = data.reading
    check_fits(bytes_per_model(exp), f"one model of {'-'.join(map(str, exp.layer_sizes))} on "
               f"{len(split.X_train):,} rows")
    return exp


def assemble(m: ModelConfig, t: TrainConfig, split: Split, path: str, notes=(),
             missing: dict | None = None) -> Experiment:
    """The experiment of a split under the [model] and [train] keys: the split cast to train.dtype (and to one
    0/1 column for the logistic loss), the objective, the schedule, the layer sizes and the initialisation.
    The CLI's prepare and the scikit-learn estimators both come through here."""
    dtype = np.dtype(t.dtype)
    split = split.astype(dtype)
    loss = m.loss if m.loss != "auto" else ("cross_entropy" if split.task == "classification" else "squared")
    if loss == "logistic":
        split = split.with_logistic_target()
    spec = Spec(activation=m.activation, loss=loss, reduction=m.reduction, penalize_bias=m.penalize_bias)
    schedule = schedule_of(t)
    layer_sizes = (split.n_features, *m.hidden, split.n_outputs)
    init = m.init if m.init != "auto" else DEFAULT_INIT[m.activation]
    notes = [*notes, *batch_note(schedule, len(split.X_train))]
    return Experiment(split, spec, schedule, layer_sizes, init, dtype, path, split.features, tuple(notes),
                      missing or {})


def schedule_of(t: TrainConfig) -> Schedule:
    """The Schedule of a [train] section: its fields are the keys of the same names, and the rule's
    hyper-parameters as l2cli.optim declares them."""
    return Schedule(**{f.name: getattr(t, f.name) for f in dataclasses.fields(Schedule) if f.name != "hyper"},
                    hyper=hyper_values(t.optimizer, t))


def batch_note(schedule: Schedule, n: int) -> list[str]:
    if not schedule.full_batch and schedule.batch_size > n:
        return [f"train.batch_size = {schedule.batch_size} is more than the {n} training rows: every batch is "
                "the whole training set"]
    return []


def check_finite(arrays, cfg: Config, when: str, missing_allowed: bool = False) -> None:
    """Data that is not finite (a huge data.noise, extreme values) cannot train. Before the split,
    NaN may be a missing value that the recipe imputes; infinities never are."""
    bad = np.isinf if missing_allowed else (lambda a: ~np.isfinite(a))
    if any(bad(a).any() for a in arrays if a is not None):
        hint = f" (data.noise = {cfg.data.noise:g} is too large?)" if cfg.data.noise is not None else ""
        raise InputError(f"{cfg.data.path or cfg.data.dataset}: the data is not finite {when}{hint}")


def compute(cfg: Config) -> Compute:
    """How the config asks the points to be laid out and run (none of it changes a number)."""
    return Compute.of(cfg.sweep)
