"""The optimizers: every first-order update rule in its own module of this package, found by name.

    gd, sgd      l2cli/optim/gd.py          θ ← θ - η g
    momentum     l2cli/optim/momentum.py    v ← μ v - η g;  θ ← θ + v
    nesterov     l2cli/optim/nesterov.py    v ← μ v - η g;  θ ← θ + μ v - η g
    adam         l2cli/optim/adam.py        Adam; AdamW with train.decay = decoupled
    lbfgs        l2cli/optim/lbfgs.py             full-batch L-BFGS, each model to its minimum (not a rule here)

A module of this package that lists ``RULES`` (l2cli.optim.rule.Rule classes) adds them: their names become
choices of ``train.optimizer``; their hyper-parameters become ``train.<name>`` config keys, ``--set``
values, estimator parameters and rows of the key table, each from its one declaration beside the update
(:func:`hyper_keys`). :func:`make_optimizer` joins a rule to the penalty (l2cli.optim.optimizer).

A light module, as the rules are: the config schema reads it without importing numpy.
"""

from __future__ import annotations

import importlib
import pkgutil

from .rule import Hyper, Rule

#: the modules of this package that are not rules
_MACHINERY = ("optimizer", "rule", "lbfgs")
#: the optimizer that is not a first-order rule (l2cli.optim.lbfgs)
LBFGS = "lbfgs"


def _discover() -> dict[str, type[Rule]]:
    found: dict[str, type[Rule]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _MACHINERY:
            continue
        for rule in importlib.import_module(f"{__name__}.{info.name}").RULES:
            if not rule.name or rule.name in found or rule.name == LBFGS:
                raise ImportError(f"l2cli.optim.{info.name}: the rule name {rule.name!r} is empty or taken")
            found[rule.name] = rule
    return found


#: every first-order rule by its name, in the order of their modules' names
RULES: dict[str, type[Rule]] = _discover()
#: every value of train.optimizer
OPTIMIZERS: tuple[str, ...] = (*RULES, LBFGS)


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


def minimizes(optimizer: str) -> bool:
    """Whether ``optimizer`` runs each model to its own minimum, one model at a time, in full batches
    (L-BFGS, l2cli.optim.lbfgs), rather than stepping a stack of models together epoch by epoch (a rule)."""
    return optimizer == LBFGS


def budget(train) -> int:
    """A model's most units of progress under ``train`` (a TrainConfig or a Schedule): iterations for a
    minimizer (train.max_iter), epochs for a rule (train.epochs)."""
    return train.max_iter if minimizes(train.optimizer) else train.epochs


def hyper_values(name: str, source) -> tuple[tuple[str, object], ...]:
    """The hyper-parameters of optimizer ``name`` as (name, value) pairs read from ``source``'s attributes (a
    TrainConfig, an estimator); none for lbfgs."""
    rule = RULES.get(name)
    return () if rule is None else tuple((h.name, getattr(source, h.name)) for h in rule.hyper)


def make_optimizer(name: str, lr: float, lam, penalize_bias: bool = False, decay: str = "l2", **hyper):
    """The optimizer of the rule called ``name`` (one of RULES) with its hyper-parameters (the rule's defaults
    for those not given), for models with penalty strengths lam (M,), the penalty applied as ``decay`` says."""
    from .optimizer import Optimizer

    return Optimizer(RULES[name](lr, **hyper), lam, penalize_bias, decay)
