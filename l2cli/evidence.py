"""The Laplace approximation of the evidence log p(D | λ) of a trained model, from its curvature.

l2cli minimizes J = L + λΩ. Read as a negative log posterior scaled by κ, E(θ) = κ·J(θ):

- classification (cross-entropy, logistic): E_D = s·L is the negative log-likelihood itself, so κ = s,
  with s = n for the mean reduction and 1 for the sum;
- squared error: E_D = (β/2)·Σ r² with the noise precision β re-estimated as MacKay does,
  β = (N − γ)/(s·L) for N = n·K targets, so κ = β·s/2.

Then the prior on the penalized weights is Gaussian with precision α = 2κλ (α = 2nλ for a mean-reduced
classifier), the unpenalized parameters have a flat prior, the Hessian of E at θ* is A = κ(G + 2λP) with
G the Gauss–Newton matrix (l2cli.curvature), and

    log p(D | λ) ≈ (P_w/2)·log α − κ·J(θ*) − ½·log det⁺ A  [ + (N/2)·log β − (N/2)·log 2π ]

(the bracket for squared error only), log det⁺ A = r·log κ + log det⁺(G + 2λP), r = rank of G + 2λP. For
a network without hidden layers and with model.penalize_bias this is Bishop's closed form (PRML eq. 3.86)
exactly. A squared-error model with γ ≥ N (it interpolates its targets) leaves no noise to estimate:
NaN. Left out, as they do not depend on λ: the flat prior's normalization, (P − P_w)/2·log 2π, and
the symmetry factor of a network with hidden units, log(∏_l n_l!·2^{n_l}) (swapping or negating hidden
units gives the same function). At λ = 0 the prior is improper and the evidence undefined: NaN.
"""

from __future__ import annotations

import math

from .curvature import Curvature


def noise_precision(gamma: float, data_loss: float, n: int, outputs: int, scale: float) -> float:
    """MacKay's β = (N − γ)/(s·L) for N = n·K squared-error targets (s·L = Σ r²)."""
    return (n * outputs - gamma) / (scale * data_loss)


def log_evidence(curv: Curvature, lam: float, objective: float, data_loss: float, n: int, outputs: int,
                 scale: float, loss: str) -> tuple[float, float, float]:
    """(log p(D | λ), its standard error, β or NaN) for one model (see the module docstring). ``objective`` is
    J(θ*), ``data_loss`` L(θ*), ``scale`` s. The error is that of ½·log det⁺ (0 for the exact curvature);
    β's own dependence on the estimated γ is left out of it."""
    if lam <= 0 or not math.isfinite(objective):
        return math.nan, math.nan, math.nan
    gamma, _ = curv.effective_params(lam)
    logdet, logdet_se = curv.logdet(lam)
    rank = curv.r_unpenalized + curv.n_penalized
    if loss == "squared":
        beta = noise_precision(gamma, data_loss, n, outputs, scale)
        if not (math.isfinite(beta) and beta > 0):  # γ ≥ N: the model interpolates, no noise left to estimate
            return math.nan, math.nan, beta
        kappa = beta * scale / 2
        extra = n * outputs / 2 * (math.log(beta) - math.log(2 * math.pi))
    else:
        beta, kappa, extra = math.nan, scale, 0.0
    alpha = 2 * kappa * lam
    value = curv.n_penalized / 2 * math.log(alpha) - kappa * objective - 0.5 * (rank * math.log(kappa) + logdet) \
        + extra
    return value, 0.5 * logdet_se, beta
