"""Nonlinear conjugate gradients on J(θ) = L_data + λ·Ω: a minimizer with no memory of past gradients, only the
last search direction (Polak–Ribière, scipy's method="CG"), as MacKay (1992) trained the networks whose
evidence he measured.

Each model of a stack to its own minimum, one at a time, through l2cli.optim.minimizer: it stops when
max_i |∂J/∂θ_i| ≤ train.gtol (scipy's gtol with norm = ∞, the same measure as L-BFGS's) or at
train.max_iter iterations; ``stalled`` when the line search loses precision first.
"""

from __future__ import annotations

import math

from .minimizer import Minimization
from .minimizer import minimize_models as run_minimizer


def minimize_models(params, lam, data, spec, schedule, history, on_iteration=None, checkpoint=None) -> Minimization:
    """Each model of ``params`` to its minimum by conjugate gradients (see l2cli.optim.minimizer)."""
    options = {"maxiter": schedule.max_iter, "gtol": schedule.gtol, "norm": math.inf}
    return run_minimizer(params, lam, data, spec, schedule, history, on_iteration, checkpoint, "CG", options, None)
