"""scikit-learn estimators on l2cli's engine.

    L2MLPClassifier, L2MLPRegressor        one model at one λ
    L2MLPClassifierCV, L2MLPRegressorCV    every λ × fold × seed of a search trained as stacked models, λ
                                           chosen as ``l2cli sweep --cv`` chooses it, then refitted

The parameters are the config keys' own names with the config's defaults
(``hidden``, ``activation``, ``optimizer``, ``lr``, ``epochs``, …), and fit
checks them with the config's declarations (l2cli.config): the same values
are allowed, with the same messages. Fitting goes through the modules behind
``l2cli sweep``: experiment.assemble fixes the objective and the schedule,
engine.run_points trains, crossval.cross_validate trains the folds and
selection chooses λ, so one (λ, seed) gives the same numbers here as in a sweep
on the same rows.

The estimators transform nothing: X and y are used as given. Put a
StandardScaler (or a ColumnTransformer) in a Pipeline before them, and wrap a
regressor whose target is far from unit scale in a TransformedTargetRegressor.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv, train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..config import MAX_SEED, ModelConfig, TrainConfig, check_train_rules, coerce, default_of
from ..data.builtin import Dataset, Split, cv_folds, fold_splits, split_at
from ..data.preprocess import Recipe
from ..errors import InputError
from ..machine.cores import usable_cores
from ..maths.evaluate import class_index, class_probabilities
from ..maths.network import Params, predict
from ..sweeps.crossval import cross_validate
from ..sweeps.engine import Trained, run_points
from ..sweeps.experiment import Experiment, assemble
from ..sweeps.layout import Compute
from ..sweeps.selection import aggregate, edge_note, fold_means, fold_spread, mark, select
from ..training.plan import Point, points

#: the parameters of every estimator that are [model] and [train] keys, under the keys' own names
MODEL_KEYS = tuple(f.name for f in dataclasses.fields(ModelConfig))
TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))
#: estimator parameter -> the config key that declares its values
KEYS = {**{k: f"model.{k}" for k in MODEL_KEYS}, **{k: f"train.{k}" for k in TRAIN_KEYS},
        "lam": "sweep.lambdas", "lams": "sweep.lambdas", "seeds": "sweep.seeds", "select": "sweep.select",
        "validation_fraction": "data.val_size"}


def key_defaults() -> list[tuple[str, object]]:
    """(name, default) of every [model] and [train] key, in the schema's order, a list default as a tuple."""
    out = []
    for section in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(section):
            default = default_of(f)
            out.append((f.name, tuple(default) if isinstance(default, list) else default))
    return out


def takes(*parameters: tuple[str, object]):
    """A class decorator: an __init__ whose signature (which scikit-learn's get_params reads) holds these
    (name, default) parameters, storing each as given (scikit-learn checks them in fit, not here)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature([inspect.Parameter("self", kind),
                                   *(inspect.Parameter(name, kind, default=d) for name, d in parameters)])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature

    def decorate(cls):
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
        return cls

    return decorate


def plain(value):
    """numpy scalars (a GridSearchCV grid from np.logspace) as Python numbers, tuples as lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list, np.ndarray)):
        return [plain(v) for v in value]
    return value


def seed_of(random_state) -> int:
    """A model seed: an int as it is; None or a RandomState draws one (scikit-learn's convention)."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(coerce("sweep.seeds", [int(random_state)])[0])
    return int(check_random_state(random_state).randint(MAX_SEED))


class L2MLPBase(BaseEstimator):
    """What the four estimators share: checking the parameters, the data, and keeping the fitted model."""

    def checked(self, name: str):
        """The parameter's value as its config key allows it; an InputError (a ValueError) naming it."""
        dotted = KEYS[name]
        value = plain(getattr(self, name))
        try:
            return coerce(dotted, [value] if name == "lam" else value)
        except InputError as exc:
            raise InputError(f"{type(self).__name__}: {str(exc).replace(dotted, name, 1)}") from None

    def settings(self) -> tuple[ModelConfig, TrainConfig]:
        """The [model] and [train] sections of these parameters."""
        model = ModelConfig(**{k: self.checked(k) for k in MODEL_KEYS})
        train = TrainConfig(**{k: self.checked(k) for k in TRAIN_KEYS})
        try:
            check_train_rules(train)
        except InputError as exc:
            raise InputError(f"{type(self).__name__}: {exc}") from None
        if train.early_stopping and not 0 < self.checked("validation_fraction") < 1:
            raise InputError(f"{type(self).__name__}: early_stopping needs 0 < validation_fraction < 1")
        return model, train

    def task(self) -> str:
        return "classification" if is_classifier(self) else "regression"

    def check_data(self, X, y):
        """X as a float64 array, y checked for the task; classes_ for a classifier."""
        classifier = is_classifier(self)
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=not classifier, multi_output=not classifier)
        if classifier:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes to train, and y has 1 class "
                                 f"({self.classes_[0]!r})")
        elif y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return X, y

    def dataset(self, X: np.ndarray, y: np.ndarray) -> Dataset:
        names = [str(c) for c in getattr(self, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])]
        return Dataset("X", pd.DataFrame(X, columns=names), y, self.task(), Recipe(tuple(names), (), None, False))

    def keep(self, exp: Experiment, trained: Trained, index: int) -> None:
        """Take model ``index`` of ``trained`` as the fitted model; a diverged one is a ValueError."""
        row = trained.summary.iloc[index]
        lam, status = float(row["lambda"]), row["status"]
        if status == "diverged":
            raise ValueError(f"{type(self).__name__}: the model at lam={lam:g} diverged (its objective stopped "
                             "being finite or grew 1000-fold); lower lr or scale the inputs")
        if status == "completed" and exp.schedule.tol > 0:
            warnings.warn(f"{type(self).__name__}: stopped after {exp.schedule.epochs} epochs without |ΔJ|/|J| "
                          f"falling below tol={exp.schedule.tol:g}; raise epochs", ConvergenceWarning, stacklevel=3)
        if status == "max_iter":
            warnings.warn(f"{type(self).__name__}: L-BFGS stopped at max_iter={exp.schedule.max_iter} (or max_fun) "
                          "before converging; raise max_iter", ConvergenceWarning, stacklevel=3)
        params = trained.params.take([index])
        self.coefs_ = [W[0] for W in params.W]
        self.intercepts_ = [b[0] for b in params.b]
        self.loss_ = exp.spec.loss
        self.n_outputs_ = exp.layer_sizes[-1]
        self.n_layers_ = len(exp.layer_sizes)
        self.penalty_, self.weight_norm_ = float(row["penalty"]), float(row["weight_norm"])
        self.n_iter_, self.status_ = int(row["epochs"]), status
        history = trained.history[(trained.history["lambda"] == lam) & (trained.history["seed"] == row["seed"])]
        absent = [f"{part}_loss" for part in ("test", "val") if history[f"{part}_loss"].isna().all()]
        self.history_ = history.drop(columns=["lambda", "seed", *absent]).reset_index(drop=True)
        self.loss_curve_ = history.loc[history["epoch"] > 0, "objective"].to_numpy()

    def logits(self, X) -> np.ndarray:
        """The fitted network's outputs Z_L for the rows of X, (n, K), as float64."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, dtype=np.float64, reset=False).astype(self.coefs_[0].dtype, copy=False)
        params = Params([W[None] for W in self.coefs_], [b[None] for b in self.intercepts_])
        return predict(params, X, self.activation)[0].astype(np.float64)


class ClassifierMethods(ClassifierMixin):
    """predict and predict_proba from the logits: the same class rule as the accuracy l2cli reports."""

    def predict_proba(self, X) -> np.ndarray:
        """(n, n_classes) probabilities: the softmax of the outputs, or σ(z) for one logistic output."""
        return class_probabilities(self.logits(X))

    def predict(self, X) -> np.ndarray:
        Z = self.logits(X)
        return self.classes_[class_index(Z)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class RegressorMethods(RegressorMixin):
    def predict(self, X) -> np.ndarray:
        """(n,) predictions, or (n, K) for a target of K columns."""
        Z = self.logits(X)
        return Z[:, 0] if self.n_outputs_ == 1 and self._one_target else Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


@takes(key_defaults()[0], ("lam", 1e-4), *key_defaults()[1:], ("validation_fraction", 0.1), ("random_state", 0))
class L2MLP(L2MLPBase):
    """One model at one λ: J = L_data + lam·Σ‖W‖² on the rows given to fit."""

    def fit(self, X, y):
        X, y = self.check_data(X, y)
        model, train = self.settings()
        lam, seed = self.checked("lam")[0], seed_of(self.random_state)
        rows = {"train": np.arange(len(y))}
        if train.early_stopping:
            rows["train"], rows["val"] = self.validation_rows(y, seed)
        exp = assemble(model, train, split_at(self.dataset(X, y), rows, standardize=False, standardize_target=False),
                       "cold")
        self._one_target = y.ndim == 1
        self.keep(exp, run_points(exp, [Point(0, lam, seed)], Compute(workers=1)), 0)
        return self

    def validation_rows(self, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded (stratified, for a classifier) validation_fraction of the rows, for early stopping."""
        stratify = y if is_classifier(self) else None
        try:
            return train_test_split(np.arange(len(y)), test_size=self.validation_fraction, random_state=seed,
                                    stratify=stratify)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}: cannot set aside validation_fraction="
                             f"{self.validation_fraction} of {len(y)} rows for early stopping: {exc}") from None


def default_lambdas() -> tuple[float, ...]:
    """The CV estimators' λ: the declared sweep.lambdas (as scikit-learn's RidgeCV, a tuple of numbers)."""
    from ..config import SweepConfig

    return tuple(SweepConfig().lambdas)


def search_results(agg: pd.DataFrame, folds: pd.DataFrame) -> dict[str, np.ndarray]:
    """cv_results_ as scikit-learn's searches give it: a dict of arrays, one entry per λ. param_lam and params;
    split{k}_test_score, mean_test_score, std_test_score and rank_test_score, a score being minus the
    validation loss of fold k (mean over seeds), higher is better; and every column of aggregate.csv
    (val_loss_mean, within_1se, selected, …). pd.DataFrame(cv_results_) is the table."""
    lams = agg["lambda"].to_numpy(float)
    per_fold = folds.groupby(["lambda", "fold"])["val_loss"].mean().unstack("fold").reindex(lams)
    scores = -per_fold.to_numpy(float)
    out: dict[str, np.ndarray] = {"param_lam": np.ma.MaskedArray(lams.astype(object), mask=False),
                                  "params": [{"lam": float(lam)} for lam in lams]}
    for k, column in enumerate(scores.T):
        out[f"split{k}_test_score"] = column
    mean = scores.mean(axis=1)
    out["mean_test_score"], out["std_test_score"] = mean, scores.std(axis=1)
    ranked = np.where(np.isnan(mean), -np.inf, mean)
    out["rank_test_score"] = np.array([1 + int((ranked > r).sum()) for r in ranked], dtype=np.int32)
    out.update({column: agg[column].to_numpy() for column in agg.columns})
    return out


@takes(("lams", default_lambdas()), ("cv", 5), ("seeds", (0,)), ("select", "min"), *key_defaults(),
       ("validation_fraction", 0.1), ("random_state", 0), ("n_jobs", None))
class L2MLPCV(L2MLPBase):
    """Every λ of ``lams`` × fold × seed trained as stacked models; λ chosen from the mean validation loss
    over the folds (``select``: min or 1se, as ``l2cli sweep``), then one model refitted on all rows."""

    def fit(self, X, y):
        X, y = self.check_data(X, y)
        if self.early_stopping:
            raise InputError(f"{type(self).__name__}: early_stopping uses a validation split; it cannot be "
                             "combined with cross-validation (as sweep.cv and train.early_stopping)")
        model, train = self.settings()
        lams, seeds, rule = self.checked("lams"), self.checked("seeds"), self.checked("select")
        exp = assemble(model, train, split_at(self.dataset(X, y), {"train": np.arange(len(y))}, standardize=False,
                                              standardize_target=False), "cold")
        folds = self.folds(exp.split, X, y)
        how = Compute(workers=self.workers(len(lams) * len(seeds)))
        folds_only = dataclasses.replace(exp, schedule=dataclasses.replace(exp.schedule, history_every=0))
        cv = cross_validate(folds_only, folds, points(lams, seeds), how)
        agg = aggregate(fold_means(cv), [])
        selection = select(agg, [], rule, f"{len(folds)}-fold cross-validation", fold_spread(agg, [], cv))
        if selection["lambda"] is None:
            raise ValueError(f"{type(self).__name__}: cannot choose λ: {selection['reason']}")
        if selection["at_edge"]:
            warnings.warn(f"{type(self).__name__}: {edge_note(selection, lams).replace('λ', 'lam_', 1)} "
                          "(lams)", UserWarning, stacklevel=2)
        table = pd.DataFrame(selection["table"])
        for column in ("val_loss_se", "within_1se", "win_frequency"):
            agg[column] = table[column].to_numpy()
        agg["selected"] = mark(agg, selection, [])
        self.lam_, self.cv_results_ = selection["lambda"], search_results(agg, cv)
        self.cv_folds_, self.selection_ = cv, selection
        self._one_target = y.ndim == 1
        self.keep(exp, run_points(exp, [Point(0, self.lam_, seeds[0])], Compute(workers=1)), 0)
        return self

    def folds(self, split: Split, X: np.ndarray, y: np.ndarray) -> list[Split]:
        """An int cv: the folds of ``l2cli sweep --cv`` (shuffled, stratified for a classifier, seeded with
        random_state); otherwise scikit-learn's check_cv (a splitter or an iterable of index pairs)."""
        cv = plain(self.cv)
        if isinstance(cv, int):
            if cv < 2:
                raise InputError(f"{type(self).__name__}: cv: cross-validation needs at least 2 folds, got {cv}")
            return cv_folds(split, cv, seed_of(self.random_state), standardize=False)
        splitter = check_cv(self.cv, y, classifier=is_classifier(self))
        return fold_splits(split, list(splitter.split(X, y)), standardize=False)

    def workers(self, n_points: int) -> int:
        """Processes for each fold's stack: n_jobs as scikit-learn reads it (None: 1, -1: every core)."""
        from joblib import effective_n_jobs

        return max(1, min(effective_n_jobs(self.n_jobs), usable_cores(), n_points))


class L2MLPClassifier(ClassifierMethods, L2MLP):
    """A NumPy MLP classifier minimizing J = L_data + lam·Σ‖W‖² (see l2cli's Conventions for the other
    libraries' names of lam); the parameters are l2cli's config keys of the same names.

    Fitted: coefs_, intercepts_ (W_l as (n_{l-1}, n_l), b_l as (n_l,)), classes_, n_features_in_,
    feature_names_in_ (given a DataFrame), penalty_ (Ω), weight_norm_ (√Ω of the weights), history_ (the
    model's rows of history.csv: every history_every-th epoch and the last), loss_curve_ (its J after
    epoch 0), n_iter_ (epochs), status_ (completed, converged or early_stopped), loss_.
    """


class L2MLPRegressor(RegressorMethods, L2MLP):
    """A NumPy MLP regressor (squared error, one or more target columns) minimizing J = L_data + lam·Σ‖W‖²;
    fitted attributes as L2MLPClassifier's, without classes_."""


class L2MLPClassifierCV(ClassifierMethods, L2MLPCV):
    """L2MLPClassifier with λ chosen by cross-validation over ``lams`` (numbers, as RidgeCV's alphas: a tuple,
    a list or an array; or, as a convenience, grid text such as '0,logspace(-6,0,13)'; default the declared
    sweep.lambdas), every λ × fold × seed trained as stacked models.

    cv: an int (the folds of ``l2cli sweep --cv``, seeded with random_state) or a scikit-learn splitter;
    seeds: the model seeds, whose mean validation loss ``select`` (min or 1se) reads; the refit uses the
    first. n_jobs: processes for the stacks (None: 1, -1: every core).
    Fitted: lam_, cv_results_ (scikit-learn's dict of arrays, one entry per λ: params, split{k}_test_score,
    mean_test_score, rank_test_score, …, and the columns of aggregate.csv; see search_results), cv_folds_
    (a DataFrame, one row per λ × seed × fold, as cv.csv), selection_ (as selection.json), and the refitted
    model's attributes. The epoch budget is ``epochs`` for gd, sgd, momentum, nesterov and adam (full
    passes over the rows) and ``max_iter`` for lbfgs and cg (iterations), each ignored by the others.
    """


class L2MLPRegressorCV(RegressorMethods, L2MLPCV):
    """L2MLPRegressor with λ chosen by cross-validation (parameters and attributes as L2MLPClassifierCV's)."""
