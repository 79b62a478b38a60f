"""What a first-order update rule declares, and the one method it implements.

A rule is a class in its own module of this package (see ``l2cli/optim/__init__.py``): its name, a one-line
help, its hyper-parameters (each a ``train.<name>`` config key, with its default, the values it allows and a
help) and :meth:`Rule.update`, the step on θ from a gradient g that already holds the penalty (or from which
the decoupled shrink has already been applied): λ never reaches a rule, so no rule can forget it
(l2cli.optim.optimizer adds it). A rule keeps its state in the arrays it is given (``slots`` of them per θ,
zeros at the first step) and in the integer attributes named by ``counters``.

A leaf module, and so is every rule: the config schema reads the declarations without importing numpy (an
update uses the arrays' own operators, and ``x ** 0.5``, numpy's ``sqrt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..vocabulary.kinds import Kind


@dataclass(frozen=True)
class Hyper:
    """A rule's hyper-parameter: the config key ``train.<name>`` and the estimators' parameter ``name``."""

    name: str
    default: Any
    kind: Kind
    help: str


class Rule:
    """A first-order update rule (see the module docstring)."""

    #: the value of train.optimizer that chooses this rule
    name: ClassVar[str] = ""
    #: one line for the key table and `l2cli --help`
    help: ClassVar[str] = ""
    hyper: ClassVar[tuple[Hyper, ...]] = ()
    #: state arrays per parameter array θ (momentum's velocity: 1; Adam's two moments: 2)
    slots: ClassVar[int] = 0
    #: integer attributes that are part of the state (Adam's step count)
    counters: ClassVar[tuple[str, ...]] = ()
    #: whether every step sees the whole training set (train.batch_size is not read)
    full_batch: ClassVar[bool] = False
    #: whether update() receives η ∂J/∂θ rather than ∂J/∂θ (the backward pass then scales ∂L/∂Z once)
    scaled_by_lr: ClassVar[bool] = False
    #: whether the coupled penalty is exactly the decoupled shrink (plain gradient descent)
    l2_is_shrink: ClassVar[bool] = False

    def __init__(self, lr: float, **hyper):
        unknown = set(hyper) - {h.name for h in self.hyper}
        if unknown:
            raise TypeError(f"{self.name} has no hyper-parameter {', '.join(sorted(unknown))}")
        self.lr = lr
        for h in self.hyper:
            setattr(self, h.name, hyper.get(h.name, h.default))
        for name in self.counters:
            setattr(self, name, 0)

    def update(self, thetas: list, grads: list, state: list[list]) -> None:
        """θ ← the rule's step from g, in place, for every θ (flat lists, weights first); ``state[k][i]`` is
        slot k of θ_i. The rule may overwrite g."""
        raise NotImplementedError
