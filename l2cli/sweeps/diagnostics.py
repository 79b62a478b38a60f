"""The curvature diagnostics of a sweep: for every trained model, its effective number of parameters γ and
its log evidence (l2cli.maths.curvature, l2cli.maths.evidence), as summary.csv columns.

sweep.curvature decides: ``off``; ``exact`` or ``lanczos`` (the method forced); ``on`` (exact where it
applies, else lanczos); ``auto`` (the default): ``on`` when the estimated cost is at most COST_SHARE of
the sweep's estimated training time, else off. The summary line says which, and the key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..maths import curvature as cv
from ..maths import lanczos
from ..maths.evidence import NOT_STATIONARY, at_minimum, laplace, not_stationary
from ..maths.network import training_flops_per_row
from ..maths.objective import data_loss, objective_and_grad

#: Diagnostics cost at most this share of the training time to be on by default (measured: bench/curvature.py;
#: the messages say "a quarter").
COST_SHARE = 0.25
#: Floating-point rate the estimates assume (FLOP/s on one core; an SVD runs slower than a product).
PRODUCT_RATE, SVD_RATE = 30e9, 5e9
#: Seconds of one model's exact diagnostics beyond its products: a constant, and per entry of its Jacobian
#: (assembly, projection; measured with bench/curvature.py).
MODEL_S, JACOBIAN_S = 0.002, 4e-8
#: Stochastic Lanczos quadrature: probes and steps per probe.
PROBES, STEPS = 20, 40


@dataclass(frozen=True)
class Decision:
    """Which method computes the diagnostics (None: off), and why."""

    method: str | None
    reason: str


def method_for(exp) -> str:
    return "exact" if cv.exact_applies(exp.layer_sizes, len(exp.split.X_train)) else "lanczos"


def cost_seconds(exp, method: str, models: int) -> float:
    """A rough single-core time of the diagnostics of ``models`` models."""
    sizes = exp.layer_sizes
    n, K = len(exp.split.X_train), sizes[-1]
    P = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if method == "exact":
        m = n * K
        per = MODEL_S + 2 * m * P * min(m, P) / PRODUCT_RATE + min(m, P) ** 3 / SVD_RATE + m * P * JACOBIAN_S
    else:
        # the quadrature's products, and as many again for the bias block's Krylov space (l2cli.maths.lanczos)
        per = 2 * PROBES * STEPS * (2 * 1.5 * training_flops_per_row(sizes) * n / PRODUCT_RATE + 4 * STEPS * P / 1e9)
    return models * per


#: Core-seconds of one model's training step beyond its products (measured: bench/curvature.py).
STEP_S = 5e-5


def train_seconds(exp, models: int) -> float:
    """A rough estimate of the core-seconds training ``models`` models takes: per model and step, STEP_S
    plus the products at PRODUCT_RATE."""
    n = len(exp.split.X_train)
    s = exp.schedule
    steps = s.units * -(-n // s.batch_rows(n))
    return models * (steps * STEP_S + s.units * n * training_flops_per_row(exp.layer_sizes) / PRODUCT_RATE)


def decide(setting: str, exp, models: int) -> Decision:
    """The method of sweep.curvature = ``setting`` for an experiment of ``models`` models."""
    if setting == "off":
        return Decision(None, "sweep.curvature = off")
    if setting in ("exact", "lanczos"):
        return Decision(setting, f"sweep.curvature = {setting}")
    method = method_for(exp)
    if setting == "on":
        return Decision(method, "sweep.curvature = on")
    cost, train = cost_seconds(exp, method, models), train_seconds(exp, models)
    if cost <= COST_SHARE * train:
        return Decision(method, f"sweep.curvature = auto: about {cost:.2g} s, at most a quarter of the sweep's")
    return Decision(None, f"sweep.curvature = auto: about {cost:.2g} s, more than a quarter of the sweep's "
                          f"estimated {train:.2g} s; sweep.curvature = on computes them")


def model_curvature(exp, params, method: str, lam: float, seed: int = 0) -> cv.Curvature:
    """The curvature of one model (a one-model stack) at its λ on the experiment's training rows, in float64."""
    one = params.__class__([W.astype(np.float64) for W in params.W], [b.astype(np.float64) for b in params.b])
    X = exp.split.X_train.astype(np.float64)
    if method == "exact":
        return cv.exact(one, X, exp.spec, lam)
    return lanczos.estimate(one, X, exp.spec, lam, PROBES, STEPS, seed)


#: why a squared-error model at λ > 0 gets no evidence when nothing else is wrong
INTERPOLATES = "fit their targets so closely that no noise is left to estimate (γ ≥ n·K, or zero loss)"


@dataclass
class Diagnostics:
    """The curvature columns of a sweep's models, and why some models got none (one reason per model, or
    None)."""

    frame: pd.DataFrame
    reasons: list[str | None]
    decrements: list[float]  # each model's Newton decrement (l2cli.maths.evidence), NaN where not computed

    def note(self) -> str | None:
        """One line: how many models got no evidence because they are not at a minimum, and the first reason."""
        left = [r for r in self.reasons if r]
        if not left:
            return None
        parts = []
        for reason in dict.fromkeys(left):
            text = reason
            if reason == NOT_STATIONARY:
                text = not_stationary([x for r, x in zip(self.reasons, self.decrements, strict=True) if r == reason])
            parts.append(f"{left.count(reason)} {text}")
        return f"{len(left)} of {len(self.reasons)} models got no log evidence or γ: " + "; ".join(parts)


def columns(exp, trained, method: str, alpha_b: float) -> Diagnostics:
    """effective_params and log_evidence for every model of ``trained`` (and, with lanczos, their standard
    errors); NaN for a model that diverged or is not at a minimum of J (l2cli.maths.evidence.at_minimum), with
    the reason. ``alpha_b``: model.bias_precision."""
    from threadpoolctl import threadpool_limits

    split = exp.split
    X, Y = split.X_train.astype(np.float64), split.Y_train.astype(np.float64)
    scale = cv.reduction_scale(exp.spec, len(Y))
    statuses = trained.summary["status"].tolist() if "status" in trained.summary else [""] * len(trained.points)
    rows, reasons, decrements = [], [], []
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):  # the same bits however the
        for m, point in enumerate(trained.points):  # run went (resumed, in workers, on a cluster)
            row, reason, decrement = model_columns(exp, trained.params.take([m]), point, method, statuses[m], X, Y,
                                                   scale, alpha_b)
            rows.append(row)
            reasons.append(reason)
            decrements.append(decrement)
    return Diagnostics(pd.DataFrame(rows), reasons, decrements)


def model_columns(exp, one, point, method: str, status: str, X, Y, scale: float,
                  alpha_b: float) -> tuple[dict, str | None, float]:
    """The columns of one model, why they are NaN where that is not plain, and its Newton decrement: NaN for
    a diverged model, one whose curvature is not finite (weights so large that the products overflow), or
    one not at a minimum."""
    empty = {"effective_params": np.nan, "log_evidence": np.nan}
    if method == "lanczos":
        empty.update(effective_params_se=np.nan, log_evidence_se=np.nan)
    if status == "diverged" or not all(np.isfinite(a).all() for a in one.arrays()):
        return empty, None, np.nan
    one = one.__class__([W.astype(np.float64) for W in one.W], [b.astype(np.float64) for b in one.b])
    try:
        curv = model_curvature(exp, one, method, point.lam, point.seed)
    except np.linalg.LinAlgError:
        return empty, None, np.nan
    if not (np.isfinite(curv.h).all() and np.isfinite(curv.t).all() and np.isfinite(curv.r).all()):
        return empty, None, np.nan
    n, K = Y.shape
    lam = np.array([point.lam])
    J, dW, db = objective_and_grad(one, X, Y, lam, exp.spec)
    L = float(data_loss(one, X, Y, exp.spec)[0])
    mask = cv.penalized_mask(one.layer_sizes, exp.spec.penalize_bias)
    theta = cv.flat(one)
    result = laplace(curv, float(J[0]), L, float(theta[~mask] @ theta[~mask]), n, K, scale, exp.spec.loss, alpha_b)
    grad = np.concatenate([d[0].ravel() for d in dW] + [d[0].ravel() for d in db])
    reason, decrement = at_minimum(curv, result, status, grad, alpha_b) if point.lam > 0 else (None, np.nan)
    if reason is None and point.lam > 0 and not np.isfinite(result.log_evidence):
        reason = INTERPOLATES
    if reason:
        return empty, reason, decrement
    row = {"effective_params": result.gamma, "log_evidence": result.log_evidence}
    if method == "lanczos":
        row.update(effective_params_se=result.gamma_se, log_evidence_se=result.log_evidence_se)
    return row, None, decrement
