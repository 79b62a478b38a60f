"""The machinery of a minimizer: each model of a stack run to its own minimum of J(θ) = L_data + λ·Ω, one model
at a time, by a ``scipy.optimize.minimize`` method on its flattened parameters θ = (W_1, …, W_L, b_1, …, b_L),
each raveled in C order (scikit-learn's packing), with J and ∂J/∂θ from
:func:`l2cli.maths.objective.objective_and_grad` on every training row. A model's iterates depend on its λ,
its seed and the data only, so a stacked sweep equals one model at a time exactly, in any chunk and any
process. scipy works in float64; float32 models are evaluated in float32. A checkpoint (or a cluster's
segment) keeps the models already minimized: an interrupted chunk continues with its next model, which starts
again from its seed. l2cli.optim.lbfgs and l2cli.optim.cg are the minimizers built on it.

    converged  scipy reports convergence: max_i |∂J/∂θ_i| ≤ gtol (L-BFGS also: the relative reduction of J
               over an iteration ≤ ftol; with ftol = 0, only the first: the gradient is below gtol)
    max_iter   the iteration limit (max_iter) or the evaluation limit (max_fun) came first
    stalled    J could not be lowered any further: scipy's line search failed (typically at the limit of
               floating-point precision or on a ReLU kink), or, with ftol = 0, an iteration left J unchanged;
               grad_norm says how close to a minimum it got
    diverged   J is not finite at the end

The history records iteration 0, every history_every-th iteration and the last; its ``epoch`` column holds
the iteration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from ..maths.evaluate import evaluate
from ..maths.network import Params
from ..maths.objective import Spec, objective_and_grad

#: scipy's status codes -> the model's status (a non-finite J is ``diverged`` whatever the code)
STATUS = {0: "converged", 1: "max_iter"}


def pack(params: Params) -> np.ndarray:
    """θ of a one-model stack as one float64 vector: W_1, …, W_L, b_1, …, b_L, each C-order."""
    return np.concatenate([a[0].ravel() for a in params.arrays()]).astype(np.float64)


def unpack(theta: np.ndarray, sizes: tuple[int, ...], dtype) -> Params:
    """The one-model Params of θ (see pack); shapes (1, n_{l-1}, n_l) and (1, n_l)."""
    shapes = [(1, a, b) for a, b in zip(sizes, sizes[1:], strict=False)] + [(1, b) for b in sizes[1:]]
    arrays, at = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        arrays.append(theta[at:at + size].reshape(shape).astype(dtype))
        at += size
    L = len(sizes) - 1
    return Params(arrays[:L], arrays[L:])


class Minimization:
    """The models of one L-BFGS chunk, minimized in turn: what is known of them so far."""

    def __init__(self, params: Params, history):
        self.final, self.iterations = params.copy(), np.zeros(params.n_models, dtype=int)
        self.status: list[str] = ["max_iter"] * params.n_models
        self.history = history  # the training loop's (l2cli.training.history.History): it owns its state

    def state_dict(self) -> dict:
        return {"final": self.final.state_dict(), "iterations": self.iterations, "status": list(self.status),
                "history": self.history.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.final, self.iterations = Params.from_state_dict(state["final"]), np.array(state["iterations"])
        self.status = list(state["status"])
        self.history.load_state_dict(state["history"])

    def snapshot(self, done: int) -> dict:
        """The state once the first ``done`` models are minimized (what a checkpoint keeps); the model in
        progress starts again from its seed (scipy's L-BFGS memory is not exposed)."""
        return {"done": done, **self.state_dict()}


def minimize_models(params: Params, lam: np.ndarray, data, spec: Spec, schedule, history,
                    on_iteration: Callable[[int], None] | None, checkpoint, method: str, options: dict,
                    ftol: float | None) -> Minimization:
    """Minimize J for each of the M models of ``params`` (left unchanged) in turn; data: l2cli.training.train.Arrays;
    history: where the iterations are recorded (l2cli.training.history.History).

    checkpoint (l2cli.training.checkpoint.Checkpoint or Segment): continue after the models it holds, and offer it
    the state after each model. method and options: scipy.optimize.minimize's; ftol: the minimizer's
    relative-reduction tolerance, or None when it has none (see status_of).
    """
    run = Minimization(params, history)
    saved = None if checkpoint is None else checkpoint.read()
    first = 0
    if saved is not None:
        run.load_state_dict(saved)
        first = saved["done"]
    for m in range(first, params.n_models):
        theta, run.iterations[m], run.status[m] = minimize_one(params.take([m]), float(lam[m]), m, data, spec,
                                                               schedule, run.history, on_iteration, method,
                                                               options, ftol)
        for dst, src in zip(run.final.arrays(), unpack(theta, params.layer_sizes, params.W[0].dtype).arrays(),
                            strict=True):
            dst[m] = src[0]
        if checkpoint is not None and m + 1 < params.n_models:
            checkpoint.maybe_write(run, m + 1)
    return run


def minimize_one(start: Params, lam: float, m: int, data, spec: Spec, schedule, history, on_iteration,
                 method: str, options: dict, ftol: float | None) -> tuple[np.ndarray, int, str]:
    """One model's minimization from ``start``: (θ at the end, iterations, status)."""
    sizes, dtype = start.layer_sizes, start.W[0].dtype
    lam_m = np.array([lam], dtype=dtype)
    X, Y, parts = data.X_train, data.Y_train, data.parts()
    scorer = None
    if schedule.history_metrics:
        from ..maths.evaluate import scored_by_targets

        parts, scorer = scored_by_targets(parts, spec.loss)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = unpack(theta, sizes, dtype)
        J, dW, db = objective_and_grad(params, X, Y, lam_m, spec)
        return float(J[0]), pack(Params(dW, db))

    def record(iteration: int, theta: np.ndarray) -> None:
        history.record(iteration, np.array([m]), evaluate(unpack(theta, sizes, dtype), lam_m, parts, spec,
                                                          scorer=scorer))

    done = [0]

    def callback(intermediate_result) -> None:
        done[0] += 1
        if on_iteration is not None:
            on_iteration(1)
        if schedule.history_every > 0 and done[0] % schedule.history_every == 0:
            record(done[0], intermediate_result.x)

    x0 = pack(start)
    record(0, x0)
    with np.errstate(all="ignore"):
        result = minimize(fun, x0, jac=True, method=method, callback=callback, options=options)
    if done[0] > 0 and (schedule.history_every == 0 or done[0] % schedule.history_every):
        record(done[0], result.x)  # the last iteration, when no regular record fell on it
    return result.x, done[0], status_of(result, ftol)


def status_of(result, ftol: float | None) -> str:
    """The model's status from scipy's result (see the module docstring). L-BFGS-B also reports success when an
    iteration does not lower J at all (a relative reduction ≤ 0, on a ReLU kink say): with ftol = 0 that is
    ``stalled``, so that a ``converged`` model then always has max |∂J/∂θ_i| ≤ gtol. A method without ftol
    (None) converges by its gradient alone."""
    if not np.isfinite(result.fun):
        return "diverged"
    if result.status == 0 and ftol == 0 and "PROJECTED GRADIENT" not in str(result.message).upper().replace("_", " "):
        return "stalled"
    return STATUS.get(result.status, "stalled")
