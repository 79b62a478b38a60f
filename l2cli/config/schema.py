"""The schema: every key of the five sections declared once (default, kind, help), and the Config that holds
them (see l2cli.config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InputError
from ..executors import EXECUTORS
from ..optim import MINIMIZERS, OPTIMIZERS, RULES, hyper_keys
from ..vocabulary.choices import (
    ACTIVATIONS,
    CURVATURE,
    DATASETS,
    DECAYS,
    DECIMAL_MARKS,
    DTYPES,
    ENGINES,
    INITS,
    LOSSES,
    NA_POLICIES,
    PATHS,
    RARE_CLASS_POLICIES,
    REDUCTIONS,
    SELECTION_RULES,
    SEPARATORS,
    TASKS,
    THOUSANDS_MARKS,
)
from ..vocabulary.kinds import (
    FRACTION,
    Address,
    Bool,
    Choice,
    DateColumns,
    Encoding,
    Float,
    Int,
    Ints,
    Kind,
    Lambdas,
    Range,
    Text,
    Texts,
    positive,
    suggest,
)
from .rules import check_rules

#: Seeds are stored as unsigned 32-bit integers (weights.npz, SeedSequence entropy).
MAX_SEED = 2**32 - 1


def key(default, kind: Kind, help: str, changes_results: bool = True):
    """Declare a config key: its default, the values it allows and a one-line help. ``changes_results``
    is False for the keys that only decide how or where a sweep runs, or where it writes (never a number)."""
    meta = {"kind": kind, "help": help, "changes_results": changes_results}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def how_key(default, kind: Kind, help: str):
    """Declare a key that decides how, where or what a sweep writes, never a number (diff leaves it out)."""
    return key(default, kind, help, changes_results=False)




class Section:
    """A config section: every assignment of a key is checked against its declaration."""

    NAME: ClassVar[str] = ""

    def __setattr__(self, name: str, value: Any) -> None:
        declared = {f.name: f for f in dataclasses.fields(self)}
        if name not in declared:
            dotted = f"{self.NAME}.{name}"
            raise InputError(f"unknown config key {dotted!r}{suggest(dotted, all_keys())}")
        object.__setattr__(self, name, declared[name].metadata["kind"].check(f"{self.NAME}.{name}", value))


@dataclass
class DataConfig(Section):
    NAME: ClassVar[str] = "data"
    dataset: str = key("moons", Choice(tuple(DATASETS)), "built-in dataset (l2cli datasets lists them)")
    path: str = key("", Text(), "CSV file to load instead of a built-in dataset")
    target: str = key("", Text(), "target column of the CSV file")
    features: list[str] = key([], Texts(), "CSV columns to use as features; empty: every column but the target")
    drop: list[str] = key([], Texts(), "CSV columns to leave out")
    na: str = key("drop", Choice(NA_POLICIES), "missing values in a CSV file: drop the rows, impute the training "
                  "rows' mean, median or most_frequent value, or error")
    max_categories: int = key(20, Int(Range(low=2)), "most distinct values of a text column (one-hot encoded)")
    sep: str = key("auto", Choice(SEPARATORS), "CSV separator: auto (detected: comma, semicolon or tab), ',', ';', "
                   "tab or '|'")
    encoding: str = key("utf-8", Encoding(), "text encoding of a CSV file, e.g. latin-1, cp1252, utf-16")
    decimal: str = key(".", Choice(DECIMAL_MARKS), "decimal mark of a CSV file's numbers: '.' or ','")
    thousands: str = key("", Choice(THOUSANDS_MARKS), "thousands separator of a CSV file's numbers: '' (none), "
                         "',', '.', ' ', \"'\" or '_'")
    dates: list[str] = key([], DateColumns(), "date columns, each NAME or NAME=FORMAT (strftime codes, e.g. "
                           "'date=%Y/%m/%d'); ISO and other unambiguous dates are found without it")
    sheet: str = key("", Text(), "the sheet of an Excel file to read; empty: the first")
    na_drop_limit: float = key(0.2, Float(FRACTION), "largest share of the rows that data.na = drop may remove "
                               "before it refuses")
    min_class_rows: int = key(2, Int(Range(low=2)), "fewest rows a class of the target may have (see "
                              "data.rare_classes)")
    rare_classes: str = key("error", Choice(RARE_CLASS_POLICIES), "a class with fewer than data.min_class_rows "
                            "rows: error, drop its rows, or merge such classes into one class 'other'")
    max_classes: int = key(200, Int(Range(low=2)), "most classes a classification target may have")
    task: str = key("auto", Choice(("auto", *TASKS)), "classification, regression or auto (inferred from the target)")
    n_samples: int = key(150, Int(Range(low=4)), "rows generated for synthetic datasets")
    noise: float | None = key(None, Float(Range(low=0), optional=True),
                              "noise of synthetic datasets (default: per dataset)")
    n_features: int = key(20, Int(Range(low=1)), "features of the classification, regression and teacher "
                          "generators")
    n_classes: int = key(2, Int(Range(low=2)), "classes of the classification generator")
    modulus: int = key(23, Int(Range(low=2, high=1000)), "p of the modular dataset: the p² pairs (a, b) → (a + b) "
                       "mod p")
    test_size: float = key(0.4, Float(Range(low=0, high=1, low_open=True)), "fraction of rows held out for testing")
    val_size: float = key(0.2, Float(FRACTION), "fraction of rows held out for validation")
    n_train: int = key(0, Int(Range(low=0)), "training rows to use, drawn from the training part; 0: all")
    seed: int = key(2, Int(Range(low=0, high=MAX_SEED)), "seed of the dataset generator and of the split")
    standardize: bool = key(True, Bool(), "scale features to zero mean, unit variance (training statistics)")
    standardize_target: bool = key(True, Bool(), "scale a regression target likewise")


@dataclass
class ModelConfig(Section):
    NAME: ClassVar[str] = "model"
    hidden: list[int] = key([64, 64], Ints(Range(low=1)), "hidden layer widths; [] for a linear/logistic model")
    activation: str = key("relu", Choice(ACTIVATIONS), "hidden activation")
    init: str = key("auto", Choice(INITS), "weight initialisation: he, glorot, auto (he for relu)")
    loss: str = key("auto", Choice(LOSSES), "cross_entropy, squared, or auto (by task); logistic: one sigmoid "
                    "output for two classes, as scikit-learn")
    reduction: str = key("mean", Choice(REDUCTIONS), "mean or sum of the per-sample losses")
    penalize_bias: bool = key(False, Bool(), "include the biases in Ω")
    bias_precision: float = key(1e-2, Float(positive()), "the evidence's prior on each unpenalized parameter (a "
                                "bias): N(0, 1/α_b), this α_b, on the summed log-likelihood's scale (0.01: a "
                                "standard deviation of 10 for inputs standardized to 1); unused with penalize_bias")


@dataclass
class TrainKeys(Section):
    """The [train] keys of the training loop and of L-BFGS; TrainConfig adds each rule's own (l2cli.optim)."""

    NAME: ClassVar[str] = "train"
    optimizer: str = key("adam", Choice(OPTIMIZERS), f"{', '.join(RULES)} (first-order rules, l2cli/optim/) or "
                         f"{', '.join(MINIMIZERS)} (minimizers: full-batch L-BFGS, conjugate gradients)")
    decay: str = key("l2", Choice(DECAYS), "how λ enters a step: l2 (the penalty's gradient 2λθ joins ∂L/∂θ, "
                     "as torch Adam's weight_decay), decoupled (θ ← (1 − 2ηλ)θ beside the optimizer's step on "
                     "∂L/∂θ, as torch AdamW; the same as l2 for gd and sgd) or independent (θ ← (1 − λ)θ, not "
                     "scaled by η: Loshchilov & Hutter's Algorithm 2; λ is then a fraction per step, < 1)")
    lr: float = key(0.01, Float(positive()), "learning rate η")
    epochs: int = key(2000, Int(Range(low=1)), "maximum number of epochs (gd, sgd, momentum, nesterov, adam: "
                      "passes over the training rows; lbfgs and cg count max_iter instead)")
    batch_size: int = key(0, Int(Range(low=0)), "mini-batch size; 0 for the full training set")
    tol: float = key(0.0, Float(positive(False)), "stop when |ΔJ|/|J| over an epoch is below tol; 0 disables")
    early_stopping: bool = key(False, Bool(), "stop on the validation loss (needs data.val_size > 0)")
    patience: int = key(10, Int(Range(low=1)), "epochs without validation improvement before stopping")
    max_iter: int = key(200, Int(Range(low=1)), "lbfgs, cg: most iterations per model (scikit-learn MLP's "
                        "max_iter; the other optimizers count epochs instead)")
    gtol: float = key(1e-4, Float(positive(False)), "lbfgs, cg: converged when max |∂J/∂θ_i| ≤ gtol (scikit-learn "
                      "MLP's tol)")
    ftol: float = key(2.220446049250313e-09, Float(positive(False)), "lbfgs: converged when J's relative "
                      "reduction over an iteration ≤ ftol (scipy's default)")
    max_fun: int = key(15000, Int(Range(low=1)), "lbfgs: most evaluations of J per model (scikit-learn MLP's "
                       "max_fun)")
    history_every: int = key(10, Int(Range(low=0)), "record the history every k epochs (lbfgs, cg: iterations); 0: "
                             "first and last only")
    history_metrics: bool = key(False, Bool(), "also record each part's accuracy (classification) or R² in "
                                "history.csv at every recorded epoch: train_accuracy, val_accuracy, test_accuracy")
    dtype: str = key("float64", Choice(DTYPES), "float64 or float32")


#: [train]: TrainKeys, then one key per rule hyper-parameter, declared beside its update rule (l2cli.optim)
TrainConfig = dataclasses.make_dataclass(
    "TrainConfig",
    [(name, type(h.default), key(h.default, h.kind, f"{h.help} ({', '.join(rules)})"))
     for name, (h, rules) in hyper_keys().items()],
    bases=(TrainKeys,), namespace={"__module__": __name__, "__doc__": "The [train] section."})


@dataclass
class SweepConfig(Section):
    NAME: ClassVar[str] = "sweep"
    lambdas: list[float] = key([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], Lambdas(),
                               "λ grid: a list, or text such as '0,logspace(-6,0,13)'")
    seeds: list[int] = key([0, 1, 2, 3, 4], Ints(Range(low=0, high=MAX_SEED), "[0, 1, 2]"),
                           "model seeds (initialisation and batch order)")
    engine: str = how_key("stacked", Choice(ENGINES), "stacked (all models at once) or sequential (one at a time)")
    path: str = key("cold", Choice(PATHS), "cold (every model from its seed's initialisation) or warm (each seed's "
                    "λ grid in increasing order, each model from the previous λ's final parameters; with lbfgs, "
                    "train.tol or train.early_stopping)")
    chunk_size: int = how_key(0, Int(Range(low=0)), "models trained together; 0 chooses from the memory budget")
    memory_mb: int = how_key(2048, Int(Range(low=1)), "memory budget of one chunk of stacked models, MiB")
    workers: int = how_key(0, Int(Range(low=0)), "processes training chunks in parallel (this one included); "
                       "0: one per core if the sweep is estimated above 0.1 s on one core")
    threads: int = how_key(0, Int(Range(low=0)), "BLAS threads per process; 0: cores / processes")
    jobs: int = how_key(0, Int(Range(low=0)), "most cores this sweep uses (processes × BLAS threads), for sweeps run "
                    "side by side; 0: every core this process may use (its CPU affinity and cgroup quota)")
    cv: int = key(0, Int(Range(low=0)), "k-fold cross-validation on the training part to select λ; 0: off")
    select: str = key("min", Choice(SELECTION_RULES), "selection rule: min (lowest mean validation loss), 1se "
                      "(largest λ within one standard error of it) or evidence (highest mean log evidence, on the "
                      "training rows alone)")
    curvature: str = key("auto", Choice(CURVATURE), "curvature diagnostics (effective_params, log_evidence): auto "
                         "(when they cost at most a quarter of the training), on, exact, lanczos or off")
    executor: str = how_key("local", Choice(tuple(EXECUTORS)), "where chunks train: " + "; ".join(
        f"{name} ({what})" for name, what in EXECUTORS.items()))
    address: str = how_key("", Address(), "Dask scheduler, tcp://HOST:PORT; empty: a LocalCluster of one worker per "
                           "core")
    portable: bool = key(False, Bool(), "train on kernels every x86-64 CPU with AVX2 has (OpenBLAS Haswell, numpy's "
                         "X86_V3 loops; arm64: the generic ones), so the run verifies exactly on any such machine")
    checkpoint_s: float = how_key(60.0, Float(Range(low=0)), "seconds between checkpoints of a chunk in training "
                              "(what --resume continues from); 0: after every epoch")
    max_models: int = how_key(100_000, Int(Range(low=1)), "most models one sweep trains (λ × seeds × grid cells × "
                              "(1 + folds)); raise it for a larger sweep")


@dataclass
class OutputConfig(Section):
    NAME: ClassVar[str] = "output"
    dir: str = how_key("", Text(), "run directory; empty: runs/<date>-<time>-<dataset>")
    weights: bool = how_key(True, Bool(), "write weights.npz")
    max_mb: int = how_key(8192, Int(Range(low=1)), "most MiB a run directory may be estimated to take (weights.npz "
                          "and history.csv); raise it, or record less (train.history_every, output.weights)")


SECTIONS: dict[str, type[Section]] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
                                      "sweep": SweepConfig, "output": OutputConfig}

#: The [data] keys that apply only to a table file (data.path), not to a built-in data set
TABLE_FILE_KEYS = ("data.na", "data.sep", "data.encoding", "data.decimal", "data.thousands", "data.dates",
                   "data.sheet")

#: Sections whose keys can be extra sweep axes (``--grid``); sweep and output keys cannot.
GRID_SECTIONS = ("data", "model", "train")


@dataclass
class Config:
    """A whole experiment. ``grid`` maps "section.key" to the values of an extra sweep axis."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    grid: dict[str, list] = field(default_factory=dict)
    #: what resolving the config decided on the user's behalf, said on stderr (not part of the config)
    notes: list[str] = field(default_factory=list, compare=False, repr=False)
    #: the keys given explicitly (a file, --set, a flag), as resolve() saw them
    given: set[str] = field(default_factory=set, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.grid = {axis: check_axis(axis, values) for axis, values in self.grid.items()}
        self.validate()

    def validate(self) -> None:
        """Check the rules that involve several keys, for the config and for every grid cell."""
        check_rules(self)
        for cell in self.cells() if self.grid else ():
            check_rules(self.at(cell))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Config:
        """The config written by :meth:`to_dict` (manifest.json's ``config``), checked key by key."""
        if not isinstance(doc, dict):
            raise InputError(f"a config must be a table of sections, got {type(doc).__name__}")
        sections = {name: cls_() for name, cls_ in SECTIONS.items()}
        grid = doc.get("grid") or {}
        if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
            raise InputError("a config's grid must be a table of lists of values")
        for section, table in doc.items():
            if section == "grid":
                continue
            if table is not None and not isinstance(table, dict):
                raise InputError(f"a config's section {section!r} must be a table, got {type(table).__name__}")
            for name, value in (table or {}).items():
                setattr(sections[split_key(f"{section}.{name}")[0]], name, value)
        return cls(**sections, grid={k: list(v) for k, v in grid.items()})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out["grid"] = {k: list(v) for k, v in self.grid.items()}
        return out

    def replace(self, values: dict[str, Any]) -> Config:
        """A copy with ``section.key`` values set; each is checked, and so are the rules between keys."""
        return Config(**self._sections(values), grid={k: list(v) for k, v in self.grid.items()})

    def at(self, cell: dict[str, Any]) -> Config:
        """The config of one grid cell: the cell's values set, and no grid."""
        return Config(**self._sections(cell))

    def _sections(self, values: dict[str, Any]) -> dict[str, Section]:
        new = {name: dataclasses.replace(getattr(self, name)) for name in SECTIONS}
        for dotted, value in values.items():
            section, name = split_key(dotted)
            setattr(new[section], name, value)
        return new

    def get(self, dotted: str) -> Any:
        section, name = split_key(dotted)
        return getattr(getattr(self, section), name)

    def cells(self) -> list[dict[str, Any]]:
        """The grid cells: every combination of the grid's values (one empty cell without a grid)."""
        cells: list[dict[str, Any]] = [{}]
        for axis, values in self.grid.items():
            cells = [{**c, axis: v} for c in cells for v in values]
        return cells


def all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def result_keys() -> list[str]:
    """The keys that can change a run's numbers (the others decide only how, where and what is written)."""
    return [k for k in all_keys() if declaration(k).metadata["changes_results"]]


def split_key(dotted: str) -> tuple[str, str]:
    """'train.lr' -> ('train', 'lr'), or an InputError for an unknown section or key."""
    section, _, name = dotted.partition(".")
    if section not in SECTIONS:
        raise InputError(f"unknown config section {section!r}{suggest(section, SECTIONS)}")
    if name not in {f.name for f in dataclasses.fields(SECTIONS[section])}:
        raise InputError(f"unknown config key {dotted!r}{suggest(dotted, all_keys())}")
    return section, name


def declaration(dotted: str) -> dataclasses.Field:
    section, name = split_key(dotted)
    return next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name)


def default_of(declared: dataclasses.Field) -> Any:
    """A declared key's default (a fresh list for a list key)."""
    return declared.default_factory() if declared.default is dataclasses.MISSING else declared.default


def coerce(dotted: str, value: Any) -> Any:
    """Check one value against its key's declaration and return it in canonical form."""
    return declaration(dotted).metadata["kind"].check(dotted, value)


def check_axis(axis: str, values: Any) -> list:
    """Validate the values of an extra sweep axis: a non-empty list of distinct values of the key's kind."""
    section = axis.partition(".")[0]
    if section in SECTIONS and section not in GRID_SECTIONS:
        raise InputError(f"grid: {axis} cannot be a sweep axis; grid keys come from "
                         f"{', '.join('[' + s + ']' for s in GRID_SECTIONS)} (λ and seeds are axes already)")
    if not isinstance(values, list) or not values:
        raise InputError(f"grid: {axis} needs a non-empty list of values")
    kind = declaration(axis).metadata["kind"]
    if isinstance(kind, Ints) and not all(isinstance(v, list) for v in values):
        raise InputError(f"grid: each value of {axis} is a list, e.g. {axis} = [[8], [16, 16]]; got {values!r}")
    out = [kind.check(axis, v) for v in values]
    if len({repr(v) for v in out}) != len(out):
        raise InputError(f"grid: {axis} lists a value twice")
    return out
