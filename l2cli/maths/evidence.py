"""The Laplace approximation of the evidence log p(D | λ) of a trained model, from its curvature.

l2cli minimizes J = L + λΩ. Read as a negative log posterior scaled by κ, E(θ) = κ·J(θ):

- classification (cross-entropy, logistic): E_D = s·L is the negative log-likelihood itself, so κ = s,
  with s = n for the mean reduction and 1 for the sum;
- squared error: E_D = (β/2)·Σ r² with the noise precision β re-estimated as MacKay does,
  β = (N − γ)/(s·L) for N = n·K targets, so κ = β·s/2.

The prior is proper in every direction: each penalized parameter (the weights; the biases too with
model.penalize_bias) is N(0, 1/α) with α = 2κλ, which is what the penalty λΩ means on E's scale; each
unpenalized one (the biases) is N(0, 1/α_b), with α_b the key model.bias_precision on the same scale (the
summed log-likelihood's). The Hessian of the negative log posterior at θ* is A = κG + D, D = diag(α, α_b), G the
Gauss–Newton matrix (l2cli.maths.curvature), and the standard Laplace formula

    log p(D | λ) ≈ log p(D | θ*) + log p(θ*) + (P/2)·log 2π − ½·log det A

          = (P_w/2)·log α + (P_u/2)·log α_b − ½·α_b·‖θ_u*‖² − κ·J(θ*) − ½·log det A [ + (N/2)·log(β/2π) ]

(the bracket for squared error only). γ = tr(A⁻¹κG), MacKay's effective number of parameters. A is full
rank, so no direction is dropped by a cut-off, and every direction's Occam factor is ≤ 0. For squared error,
β and γ depend on each other: κ is the root of 2Lκ = N − γ(κ), unique because γ grows with κ (ROOT_RTOL).
A model with γ ≥ N (it interpolates its targets) leaves no noise to estimate: NaN. With model.penalize_bias
and no hidden layer this is Bishop's closed form (PRML eq. 3.86) exactly. Left out, as it does not depend
on λ: the symmetry factor of a network with hidden units, log(∏_l n_l!·2^{n_l}) (swapping or negating hidden
units gives the same function). At λ = 0 the weights' prior is improper and the evidence undefined: NaN.

The Laplace approximation is taken at a minimum of J. At another θ it is off by up to the Newton decrement
½·∇Eᵀ A⁻¹ ∇E (what a Newton step would still gain): :func:`at_minimum` says why a model gets no evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .curvature import Curvature

#: κ's root is found to this relative precision (scipy's brentq; the log evidence moves by less than
#: P·ROOT_RTOL nats, tests/test_curvature.py moves it by 10⁴ either way).
ROOT_RTOL = 1e-13
#: A model gets an evidence only where the Newton decrement is at most this many nats (an upper bound for
#: the lanczos curvature): the evidence is then within that of the one at the minimum.
MAX_DECREMENT = 0.1
#: Statuses of a model that did not stop at a minimum of J, whatever its gradient.
NOT_AT_MINIMUM = {"max_iter": "stopped at train.max_iter (or max_fun) before reaching a minimum of J",
                  "early_stopped": "were stopped early on the validation loss, not at a minimum of J",
                  "diverged": "diverged"}


@dataclass(frozen=True)
class Laplace:
    """The evidence of one model: log p(D | λ) and γ with their standard errors (0 for the exact curvature),
    κ, and β (squared error; else NaN)."""

    log_evidence: float
    log_evidence_se: float
    gamma: float
    gamma_se: float
    kappa: float
    beta: float

    @classmethod
    def undefined(cls, beta: float = math.nan) -> Laplace:
        return cls(math.nan, math.nan, math.nan, math.nan, math.nan, beta)


def noise_precision(gamma: float, data_loss: float, n: int, outputs: int, scale: float) -> float:
    """MacKay's β = (N − γ)/(s·L) for N = n·K squared-error targets (s·L = Σ r²)."""
    return (n * outputs - gamma) / (scale * data_loss)


def squared_error_kappa(curv: Curvature, data_loss: float, targets: int, alpha_b: float) -> float:
    """κ = β·s/2 with β = (N − γ)/(s·L): the root of f(κ) = 2Lκ − N + γ(κ), increasing in κ, in (0, N/(2L)];
    NaN where there is none (γ ≥ N even as κ → 0: the model interpolates; or L = 0)."""
    if not (data_loss > 0 and math.isfinite(data_loss)):
        return math.nan

    def f(kappa: float) -> float:
        return 2 * data_loss * kappa - targets + curv.effective_params(kappa, alpha_b)[0]

    high = targets / (2 * data_loss)
    low = high * 1e-15
    if not f(low) < 0:
        return math.nan
    return float(brentq(f, low, high, xtol=1e-300, rtol=ROOT_RTOL, maxiter=500)) if f(high) > 0 else high


def laplace(curv: Curvature, objective: float, data_loss: float, unpenalized_sq: float, n: int, outputs: int,
            scale: float, loss: str, alpha_b: float) -> Laplace:
    """The Laplace evidence and γ of one model (see the module docstring). ``objective`` is J(θ*),
    ``data_loss`` L(θ*), ``unpenalized_sq`` ‖θ_u*‖², ``scale`` s. The errors are those of the curvature's
    estimates (0 for exact); β's own dependence on the estimated γ is left out of them."""
    lam = curv.lam
    if not (lam > 0 and math.isfinite(objective)):
        return Laplace.undefined()
    if loss == "squared":
        kappa = squared_error_kappa(curv, data_loss, n * outputs, alpha_b)
        if not kappa > 0:
            return Laplace.undefined(noise_precision(curv.n_parameters, data_loss, n, outputs, scale)
                                     if data_loss > 0 else math.inf)
        beta = 2 * kappa / scale
        extra = n * outputs / 2 * (math.log(beta) - math.log(2 * math.pi))
    else:
        kappa, beta, extra = float(scale), math.nan, 0.0
    gamma, gamma_se = curv.effective_params(kappa, alpha_b)
    logdet, logdet_se = curv.logdet(kappa, alpha_b)
    n_unpenalized = curv.n_parameters - curv.n_penalized
    value = (curv.n_penalized / 2 * math.log(2 * kappa * lam) + n_unpenalized / 2 * math.log(alpha_b)
             - alpha_b / 2 * unpenalized_sq - kappa * objective - 0.5 * logdet + extra)
    return Laplace(value, 0.5 * logdet_se, gamma, gamma_se, kappa, beta)


#: why a model whose gradient is too large gets no evidence (l2cli.sweeps.diagnostics adds the decrements)
NOT_STATIONARY = "are not at a minimum of J"


def not_stationary(decrements: list[float]) -> str:
    """The reason of models whose Newton decrements are too large, with their range."""
    span = f"{min(decrements):.2g} to {max(decrements):.2g} nats" if len(decrements) > 1 else \
        f"{decrements[0]:.2g} nats"
    return (f"{NOT_STATIONARY} (Newton decrement {span}, above {MAX_DECREMENT:g}; train longer, or with lbfgs "
            "lower train.gtol)")


def at_minimum(curv: Curvature, result: Laplace, status: str, grad: np.ndarray,
               alpha_b: float) -> tuple[str | None, float]:
    """Why the model's evidence is not an evidence (None when it is): it did not stop at a minimum of J, by its
    status, or its Newton decrement is above MAX_DECREMENT; and the decrement (NaN where not computed)."""
    if status in NOT_AT_MINIMUM:
        return NOT_AT_MINIMUM[status], math.nan
    if not math.isfinite(result.kappa):
        return None, math.nan
    decrement = curv.newton_decrement(result.kappa, alpha_b, grad)
    return (None if decrement <= MAX_DECREMENT else NOT_STATIONARY), decrement
