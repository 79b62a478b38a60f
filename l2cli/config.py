"""Experiment configuration: TOML files, ``section.key=value`` overrides, validation.

An experiment has five sections (data, model, train, sweep, output). Values
are resolved in this order, later winning: built-in defaults < the TOML file <
``--set section.key=value`` overrides < dedicated command-line flags. Every
value is checked before any training starts; a bad one raises
:class:`~l2cli.errors.InputError` naming the key (and, for a typo, the closest
valid key).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .activations import ACTIVATIONS
from .data import BUILTINS
from .errors import InputError
from .grid import check_lambdas, parse_grid, split_top_level
from .optim import OPTIMIZERS


def opt(default, kind: str, help: str, choices=None, low=None, high=None, low_open=False):
    """A config field: its default, kind (int, float, str, bool, ints, lambdas, float?) and bounds."""
    meta = dict(kind=kind, help=help, choices=choices, low=low, high=high, low_open=low_open)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    dataset: str = opt("moons", "str", "built-in dataset (l2cli datasets lists them)", choices=tuple(BUILTINS))
    path: str = opt("", "str", "CSV file to load instead of a built-in dataset")
    target: str = opt("", "str", "target column of the CSV file")
    task: str = opt("auto", "str", "classification, regression or auto (inferred from the target)",
                    choices=("auto", "classification", "regression"))
    n_samples: int = opt(150, "int", "rows generated for synthetic datasets", low=4)
    noise: float | None = opt(None, "float?", "noise of synthetic datasets (default: per dataset)", low=0)
    n_features: int = opt(20, "int", "features of the classification/regression generators", low=1)
    n_classes: int = opt(2, "int", "classes of the classification generator", low=2)
    test_size: float = opt(0.4, "float", "fraction of rows held out for testing", low=0, high=1, low_open=True)
    val_size: float = opt(0.2, "float", "fraction of rows held out for validation", low=0, high=1)
    n_train: int = opt(0, "int", "training rows to use, drawn from the training part; 0: all", low=0)
    seed: int = opt(2, "int", "seed of the dataset generator and of the split", low=0)
    standardize: bool = opt(True, "bool", "scale features to zero mean, unit variance (training statistics)")
    standardize_target: bool = opt(True, "bool", "scale a regression target likewise")


@dataclass
class ModelConfig:
    hidden: list[int] = opt([64, 64], "ints", "hidden layer widths; [] for a linear/logistic model", low=1)
    activation: str = opt("relu", "str", "hidden activation", choices=tuple(ACTIVATIONS))
    init: str = opt("auto", "str", "weight initialisation: he, glorot, auto (he for relu)",
                    choices=("auto", "he", "glorot"))
    loss: str = opt("auto", "str", "cross_entropy, squared, or auto (by task); logistic: one sigmoid output "
                    "for two classes, as scikit-learn", choices=("auto", "cross_entropy", "logistic", "squared"))
    reduction: str = opt("mean", "str", "mean or sum of the per-sample losses", choices=("mean", "sum"))
    penalize_bias: bool = opt(False, "bool", "include the biases in Ω")


@dataclass
class TrainConfig:
    optimizer: str = opt("adam", "str", "gd (full batch), sgd, momentum or adam", choices=OPTIMIZERS)
    lr: float = opt(0.01, "float", "learning rate η", low=0, low_open=True)
    epochs: int = opt(2000, "int", "maximum number of epochs", low=1)
    batch_size: int = opt(0, "int", "mini-batch size; 0 for the full training set", low=0)
    momentum: float = opt(0.9, "float", "momentum μ of the momentum optimizer", low=0, high=1)
    beta1: float = opt(0.9, "float", "Adam β₁", low=0, high=1)
    beta2: float = opt(0.999, "float", "Adam β₂", low=0, high=1)
    eps: float = opt(1e-8, "float", "Adam ε", low=0, low_open=True)
    tol: float = opt(0.0, "float", "stop when |ΔJ|/|J| over an epoch is below tol; 0 disables", low=0)
    early_stopping: bool = opt(False, "bool", "stop on the validation loss (needs data.val_size > 0)")
    patience: int = opt(10, "int", "epochs without validation improvement before stopping", low=1)
    history_every: int = opt(10, "int", "record the history every k epochs; 0: first and last only", low=0)
    dtype: str = opt("float64", "str", "float64 or float32", choices=("float64", "float32"))


@dataclass
class SweepConfig:
    lambdas: list[float] = opt([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], "lambdas",
                               "λ grid: a list, or text such as '0,logspace(-6,0,13)'")
    seeds: list[int] = opt([0, 1, 2, 3, 4], "ints", "model seeds (initialisation and batch order)", low=0)
    engine: str = opt("stacked", "str", "stacked (all models at once) or sequential (one at a time)",
                      choices=("stacked", "sequential"))
    chunk_size: int = opt(0, "int", "models trained together; 0 chooses from the memory budget", low=0)
    memory_mb: int = opt(2048, "int", "memory budget of one chunk of stacked models, MiB", low=1)
    workers: int = opt(0, "int", "processes training chunks in parallel (this one included); "
                       "0: one per core if the sweep is estimated above 0.1 s on one core", low=0)
    threads: int = opt(0, "int", "BLAS threads per process; 0: cores / processes", low=0)
    cv: int = opt(0, "int", "k-fold cross-validation on the training part to select λ; 0: off", low=0)
    select: str = opt("min", "str", "selection rule: min (lowest mean validation loss) or 1se "
                      "(largest λ within one standard error of it)", choices=("min", "1se"))


@dataclass
class OutputConfig:
    dir: str = opt("", "str", "run directory; empty: runs/<date>-<time>-<dataset>")
    weights: bool = opt(True, "bool", "write weights.npz")


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
            "sweep": SweepConfig, "output": OutputConfig}


#: Sections whose keys can be extra sweep axes (``--grid``); sweep and output keys cannot.
GRID_SECTIONS = ("data", "model", "train")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    #: extra sweep axes beside λ and seed: "section.key" -> values, trained as a full product
    grid: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out["grid"] = {k: list(v) for k, v in self.grid.items()}
        return out

    def replace(self, values: dict[str, Any]) -> "Config":
        """A copy with ``section.key`` values set (already validated)."""
        new = Config(**{name: dataclasses.replace(getattr(self, name)) for name in SECTIONS}, grid=dict(self.grid))
        for key, value in values.items():
            section, _, name = key.partition(".")
            setattr(getattr(new, section), name, value)
        return new

    def axes(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values (one empty dict without a grid)."""
        combos: list[dict[str, Any]] = [{}]
        for key, values in self.grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        return combos


def all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def coerce(key: str, value: Any) -> Any:
    """Check one value against its field and return it in canonical form."""
    section, _, name = key.partition(".")
    if section not in SECTIONS:
        raise InputError(f"unknown config section {section!r}{_suggest(section, SECTIONS)}")
    fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
    if name not in fields:
        raise InputError(f"unknown config key {key!r}{_suggest(key, all_keys())}")
    meta = fields[name].metadata
    kind = meta["kind"]

    def fail(expected: str):
        raise InputError(f"{key}: expected {expected}, got {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            fail("true or false")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
    elif kind in ("float", "float?"):
        if value is None and kind == "float?":
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        value = float(value)
        if not math.isfinite(value):
            fail("a finite number")
    elif kind == "str":
        if not isinstance(value, str):
            fail("a string")
    elif kind == "ints":
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            fail("a list of integers such as [64, 64]")
    elif kind == "lambdas":
        try:
            if isinstance(value, str):
                value = parse_grid(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                value = check_lambdas([value])
            elif isinstance(value, list) and all(_is_number(v) for v in value):
                value = check_lambdas(value)
            else:
                fail("a list of numbers or a grid such as 'logspace(-5,0,16)'")
        except InputError as exc:
            raise InputError(f"{key}: {exc}") from None
    if meta["choices"] is not None and value not in meta["choices"]:
        choices = meta["choices"]
        raise InputError(f"{key}: {value!r} is not one of {', '.join(choices)}{_suggest(str(value), choices)}")
    for v in value if isinstance(value, list) else [value]:
        low, high = meta["low"], meta["high"]
        if low is not None and (v < low or (meta["low_open"] and v == low)):
            raise InputError(f"{key}: {v!r} is out of range (must be {'>' if meta['low_open'] else '≥'} {low})")
        if high is not None and v > high:
            raise InputError(f"{key}: {v!r} is out of range (must be ≤ {high})")
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """``section.key=value`` with value read as a TOML literal (bare words are strings)."""
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq or "." not in key:
        raise InputError(f"--set expects section.key=value, got {text!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def coerce_axis(key: str, values: Any) -> list:
    """Validate the values of an extra sweep axis ``key``."""
    section = key.partition(".")[0]
    if section in SECTIONS and section not in GRID_SECTIONS:
        raise InputError(f"grid: {key} cannot be a sweep axis; grid keys come from "
                         f"{', '.join('[' + s + ']' for s in GRID_SECTIONS)} (λ and seeds are axes already)")
    if not isinstance(values, list) or not values:
        raise InputError(f"grid: {key} needs a non-empty list of values")
    out = [coerce(key, v) for v in values]
    if len({repr(v) for v in out}) != len(out):
        raise InputError(f"grid: {key} lists a value twice")
    return out


def parse_grid_option(text: str) -> tuple[str, list]:
    """``section.key=V1,V2,...`` (values are TOML literals; commas inside [] separate nothing)."""
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq or "." not in key or not raw.strip():
        raise InputError(f"--grid expects section.key=value1,value2,..., got {text!r}")
    values = [parse_override(f"{key}={term}")[1] for term in split_top_level(raw.strip())]
    return key, coerce_axis(key, values)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read an experiment file into flat ``section.key -> value`` pairs."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    flat = {}
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise InputError(f"{path}: top-level key {section!r} must be a [section]{_suggest(section, SECTIONS)}")
        for key, value in table.items():
            flat[f"grid:{key}" if section == "grid" else f"{section}.{key}"] = value
    return flat


def resolve(config_file: str | Path | None = None, overrides: list[str] = (),
            flags: dict[str, Any] | None = None, grid: list[str] = ()) -> Config:
    """Defaults < config file < ``--set`` overrides < flags, validated key by key.

    ``grid`` holds ``--grid section.key=v1,v2`` options; they replace a config
    file's ``[grid]`` entry for the same key.
    """
    pairs: list[tuple[str, Any]] = []
    if config_file is not None:
        pairs += list(load_toml(config_file).items())
    pairs += [parse_override(o) for o in overrides]
    pairs += [(k, v) for k, v in (flags or {}).items() if v is not None]
    cfg = Config()
    for key, value in pairs:
        if key.startswith("grid:"):
            axis = key[len("grid:"):]
            cfg.grid[axis] = coerce_axis(axis, value)
            continue
        value = coerce(key, value)
        section, _, name = key.partition(".")
        setattr(getattr(cfg, section), name, value)
    for option in grid:
        key, values = parse_grid_option(option)
        cfg.grid[key] = values
    check(cfg)
    for axes in cfg.axes():
        check(cfg.replace(axes))
    return cfg


def check(cfg: Config) -> None:
    """Rules that involve more than one key."""
    if cfg.data.test_size + cfg.data.val_size >= 1:
        raise InputError("data.test_size + data.val_size must leave training rows (sum < 1)")
    if cfg.train.early_stopping and cfg.data.val_size == 0:
        raise InputError("train.early_stopping needs a validation split: set data.val_size > 0")
    if cfg.data.path and not cfg.data.target:
        raise InputError("data.target is required with a CSV file: name the column to predict")
    if not cfg.sweep.seeds:
        raise InputError("sweep.seeds: give at least one seed")
    if len(set(cfg.sweep.seeds)) != len(cfg.sweep.seeds):
        raise InputError("sweep.seeds: seeds must be distinct")
    if cfg.sweep.cv == 1:
        raise InputError("sweep.cv: cross-validation needs at least 2 folds (0 turns it off)")
    if cfg.sweep.cv and cfg.data.val_size > 0:
        raise InputError("choose one way to select λ: data.val_size (a validation split) or sweep.cv (k-fold)")
    if cfg.sweep.cv and cfg.train.early_stopping:
        raise InputError("train.early_stopping uses a validation split; it cannot be combined with sweep.cv")


def parse_int_list(text: str, what: str) -> list[int]:
    """'64,64' -> [64, 64]; '' -> []."""
    text = text.strip().strip("[]")
    if not text:
        return []
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise InputError(f"{what}: expected comma-separated integers such as 64,64, got {text!r}") from None
