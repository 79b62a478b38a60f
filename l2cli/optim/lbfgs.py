"""Full-batch L-BFGS on J(θ) = L_data + λ·Ω: "gradient descent till satisfied", one model at a time.

scipy's L-BFGS-B (method="L-BFGS-B") on each model's flattened parameters, through l2cli.optim.minimizer: it
stops when max_i |∂J/∂θ_i| ≤ train.gtol or J's relative reduction over an iteration ≤ train.ftol, or at
train.max_iter iterations or train.max_fun evaluations (scikit-learn's MLP takes the same three limits).
"""

from __future__ import annotations

from .minimizer import Minimization
from .minimizer import minimize_models as run_minimizer


def minimize_models(params, lam, data, spec, schedule, history, on_iteration=None, checkpoint=None) -> Minimization:
    """Each model of ``params`` to its minimum by L-BFGS-B (see l2cli.optim.minimizer.minimize_models)."""
    options = {"maxiter": schedule.max_iter, "maxfun": schedule.max_fun, "gtol": schedule.gtol,
               "ftol": schedule.ftol}
    return run_minimizer(params, lam, data, spec, schedule, history, on_iteration, checkpoint, "L-BFGS-B",
                         options, schedule.ftol)
