"""The optimizers: every first-order update rule in its own module of this package, found by name.

    gd, sgd      l2cli/optim/gd.py          θ ← θ - η g
    momentum     l2cli/optim/momentum.py    v ← μ v - η g;  θ ← θ + v
    nesterov     l2cli/optim/nesterov.py    v ← μ v - η g;  θ ← θ + μ v - η g
    adam         l2cli/optim/adam.py        Adam; AdamW with train.decay = decoupled
    lbfgs        l2cli/optim/lbfgs.py       a minimizer: full-batch L-BFGS, each model to its minimum
    cg           l2cli/optim/cg.py          a minimizer: nonlinear conjugate gradients (Polak–Ribière)

A module of this package that lists ``RULES`` (l2cli.optim.rule.Rule classes) adds them: their names become
choices of ``train.optimizer``; their hyper-parameters become ``train.<name>`` config keys, ``--set``
values, estimator parameters and rows of the key table, each from its one declaration beside the update
(:func:`hyper_keys`). :func:`make_optimizer` joins a rule to the penalty (l2cli.optim.optimizer). Every
optimizer, rule or minimizer, declares what the rest of l2cli may ask of it as a :class:`Method` (METHODS).

A light module, as the rules are: the config schema reads it without importing numpy.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from .rule import Hyper, Rule


@dataclass(frozen=True)
class Method:
    """What the rest of l2cli may ask of an optimizer, whichever kind it is: the answers each one declares, so
    that nothing outside this package asks for a name.

    - ``keys``: the [train] keys it reads besides the ones every optimizer reads (train.optimizer, decay,
      dtype, history_every); a key given for another optimizer is refused;
    - ``budget``: the key of its most units of progress, and ``unit`` what one is (the history's epoch column);
    - ``one_at_a_time``: each model is run to its own minimum on its own (chunks are small and handed out as
      workers free; one BLAS thread each; summary.csv adds grad_norm, how close to the minimum it stopped);
    - ``stops_itself``: training ends by itself without train.tol or early stopping (a warm path saves work);
    - ``full_batch``; ``decays``: the train.decay values it applies; ``early_stopping``: whether it can stop on
      the validation loss;
    - ``minimize``: a minimizer's entry point (module of this package:function; :func:`minimizer` loads it and
      l2cli.training.train calls it), None for a rule, which the training loop steps epoch by epoch.
    """

    name: str
    keys: tuple[str, ...]
    budget: str
    unit: str
    one_at_a_time: bool
    stops_itself: bool
    full_batch: bool
    decays: tuple[str, ...]
    early_stopping: bool
    minimize: str | None = None


#: The minimizers, each a module of this package (heavy: it is imported only when it trains) declared here, light:
#: adding one is its module and its line below (l2cli/optim/cg.py is the example).
MINIMIZERS: dict[str, Method] = {
    # scipy's L-BFGS-B: each model to its minimum, as scikit-learn's MLP(solver="lbfgs")
    "lbfgs": Method("lbfgs", ("max_iter", "gtol", "ftol", "max_fun"), "max_iter", "iteration", True, True, True,
                    ("l2",), False, "lbfgs:minimize_models"),
    # scipy's nonlinear conjugate gradients (Polak–Ribière): each model to its minimum, no memory but a direction
    "cg": Method("cg", ("max_iter", "gtol"), "max_iter", "iteration", True, True, True, ("l2",), False,
                 "cg:minimize_models"),
}

#: the modules of this package that are not rules
_MACHINERY = ("optimizer", "rule", "minimizer", *MINIMIZERS)


def _discover() -> dict[str, type[Rule]]:
    found: dict[str, type[Rule]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _MACHINERY:
            continue
        for rule in importlib.import_module(f"{__name__}.{info.name}").RULES:
            if not rule.name or rule.name in found or rule.name in MINIMIZERS:
                raise ImportError(f"l2cli.optim.{info.name}: the rule name {rule.name!r} is empty or taken")
            found[rule.name] = rule
    return found


#: every first-order rule by its name, in the order of their modules' names
RULES: dict[str, type[Rule]] = _discover()
#: every value of train.optimizer
OPTIMIZERS: tuple[str, ...] = (*RULES, *MINIMIZERS)


def hyper_keys() -> dict[str, tuple[Hyper, tuple[str, ...]]]:
    """Every rule hyper-parameter by name, with the rules that read it. Two rules may share one (momentum's μ
    in momentum and nesterov) when they declare it alike."""
    keys: dict[str, tuple[Hyper, tuple[str, ...]]] = {}
    for name, rule in RULES.items():
        for h in rule.hyper:
            if h.name in keys and keys[h.name][0] != h:
                raise ImportError(f"train.{h.name} is declared differently by {keys[h.name][1][0]} and {name}")
            keys[h.name] = (h, (*keys[h.name][1], name) if h.name in keys else (name,))
    return keys


#: the keys of the epoch loop, read by every first-order rule
_LOOP_KEYS = ("epochs", "lr", "batch_size", "tol", "patience")


def _rule_method(name: str) -> Method:
    rule = RULES[name]
    return Method(name, (*_LOOP_KEYS, *(h.name for h in rule.hyper)), "epochs", "epoch", False, False,
                  rule.full_batch, ("l2", "decoupled", "independent"), True)


#: every value of train.optimizer, with what it declares: the rules', then the minimizers'
METHODS: dict[str, Method] = {**{name: _rule_method(name) for name in RULES}, **MINIMIZERS}


def minimizer(name: str):
    """The entry point of optimizer ``name`` when it is a minimizer (see Method.minimize), else None."""
    entry = METHODS[name].minimize
    if entry is None:
        return None
    module, function = entry.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def budget(train) -> int:
    """A model's most units of progress under ``train`` (a TrainConfig or a Schedule): its method's budget
    key (epochs for a rule, train.max_iter for L-BFGS)."""
    return getattr(train, METHODS[train.optimizer].budget)


def hyper_values(name: str, source) -> tuple[tuple[str, object], ...]:
    """The hyper-parameters of optimizer ``name`` as (name, value) pairs read from ``source``'s attributes (a
    TrainConfig, an estimator); none for lbfgs."""
    rule = RULES.get(name)
    return () if rule is None else tuple((h.name, getattr(source, h.name)) for h in rule.hyper)


def make_optimizer(name: str, lr: float, lam, penalize_bias: bool, decay: str, **hyper):
    """The optimizer of the rule called ``name`` (one of RULES) with its hyper-parameters (the rule's defaults
    for those not given), for models with penalty strengths lam (M,), the penalty applied as ``decay`` says."""
    from .optimizer import Optimizer

    return Optimizer(RULES[name](lr, **hyper), lam, penalize_bias, decay)
