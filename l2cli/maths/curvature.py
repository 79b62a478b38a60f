"""The curvature of a trained model: the generalized Gauss–Newton matrix G of L_data, and what L2 does to it.

    G = (1/s) Σ_i J_iᵀ Λ_i J_i,     J_i = ∂f(x_i)/∂θ (K × P),   s = n (mean reduction) or 1 (sum)

    Λ_i = diag(p_i) − p_i p_iᵀ (softmax + cross-entropy),  p_i(1 − p_i) (logistic),  2·I (squared error)

G is positive semi-definite, and for a network without hidden layers it is the exact Hessian of L_data.
Near a minimum θ*, the penalty λΩ shrinks θ*'s component along the i-th eigen-direction of G by
h_i/(h_i + 2λ) (Goodfellow et al., Deep Learning §7.1.1): directions the data pin down survive, flat ones go.

The evidence (l2cli.maths.evidence) needs the Hessian of the negative log posterior, A = κG + D, with D the prior
precisions: α = 2κλ on each penalized parameter (w: the weights; the biases too with model.penalize_bias) and
α_b on each unpenalized one (u: the biases). A is full rank for every λ > 0, so nothing here is cut off by a
rank tolerance. Integrating the weights out first, with H = G_ww + 2λI,

    A/κ = [[H, G_wu], [G_uw, G_uu + α_b/κ]],   T = G_uu − G_uw H⁻¹ G_wu,   R = G_uw H⁻² G_wu   (u × u)

    log det A = P·log κ + Σ_i log(h_i + 2λ) + Σ_j log(t_j + α_b/κ)

    γ = tr(A⁻¹κG) = Σ_i h_i/(h_i + 2λ) + Σ_j (t_j − 2λ·r_j)/(t_j + α_b/κ)      (MacKay's effective number)

with h_i the eigenvalues of G_ww, t_j those of T, r_j the diagonal of R in T's eigenvectors. Every term of γ is
in [0, 1]; κ enters only through α_b/κ, so a squared-error model's κ (which depends on γ through MacKay's β)
is one scalar root (l2cli.maths.evidence). With model.penalize_bias there is no u and this is Bishop's closed form.
T and R are small (as many rows as biases) and depend on λ, so a Curvature belongs to one model at its λ.

Two methods compute h, t and r:

- ``exact``: the whitened Jacobian B = s^{-1/2} Λ^{1/2} J (nK × P) is formed; the SVD of its penalized columns
  B_w = U Σ Vᵀ gives every h_i = σ_i² (G_w's rank is at most nK; the other h_i are exactly 0), and with
  Y = Uᵀ B_u and B_⊥ = B_u − U Y,  T = B_⊥ᵀ B_⊥ + Yᵀ diag(2λ/(σ² + 2λ)) Y and R = Yᵀ diag(σ²/(σ² + 2λ)²) Y:
  sums of positive semi-definite terms, with no subtraction to lose digits in. It applies when nK·P is at
  most EXACT_MAX_ENTRIES.
- ``lanczos``: never a dense P × P matrix, only Gauss–Newton–vector products (J·v by forward tangents and
  Jᵀ·u by backpropagation through l2cli's own network code). ``probes`` Rademacher vectors of ``steps``
  Lanczos steps each estimate Σ f(h_i) by stochastic Lanczos quadrature; T and R come from a block Krylov
  space of G_ww started at G_wu (Rayleigh–Ritz: G_uw f(G_ww) G_wu ≈ Cᵀ f(Θ) C), which is exact once the
  space is invariant. The error combines the standard error over the probes with each quadrature's own (how
  much it moves between half its steps and all of them), plus NODE_PRECISION per penalized direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .activations import ACTIVATIONS
from .losses import softmax
from .network import Params, forward

#: The exact method forms the nK × P whitened Jacobian when it has at most this many entries (128 MiB).
EXACT_MAX_ENTRIES = 2**24
#: The relative precision of the quadrature's nodes, a floor under the lanczos estimates' error (per
#: penalized direction). It widens the stated error only; no estimate depends on it.
NODE_PRECISION = 1e-6
@dataclass
class Curvature:
    """What the Laplace evidence of one model at its λ needs (see the module docstring): h, the eigenvalues
    of G_ww (every penalized direction, zeros included; lanczos: every probe's Ritz values, whose quadrature
    weights are in ``probes``); t and r of the unpenalized block; and how they were found. For lanczos,
    ``half`` holds t and r from half the block steps (their difference estimates the error)."""

    lam: float
    h: np.ndarray
    t: np.ndarray
    r: np.ndarray
    n_penalized: int
    method: str
    probes: list | None = None  # lanczos: per probe, (nodes, weights) of all its steps and of half of them
    half: tuple[np.ndarray, np.ndarray] | None = None
    #: exact: (g, α_b/κ) -> (A/κ)⁻¹ g for a vector g in the layout of flat()
    solve: Callable[[np.ndarray, float], np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_parameters(self) -> int:
        return self.n_penalized + len(self.t)

    def trace(self, f) -> tuple[float, float]:
        """Σ_i f(h_i) over the penalized directions, and its error (0 for the exact method): for lanczos, the
        standard error over the probes combined with the quadrature's own, the mean change of each probe's
        estimate between half its steps and all of them."""
        if self.probes is None:
            return float(np.sum(f(self.h))), 0.0
        full = np.array([self.n_penalized * np.sum(w * f(nodes)) for (nodes, w), _ in self.probes])
        half = np.array([self.n_penalized * np.sum(w * f(nodes)) for _, (nodes, w) in self.probes])
        se = full.std(ddof=1) / np.sqrt(len(full)) if len(full) > 1 else float("nan")
        floor = NODE_PRECISION * self.n_penalized  # probes that all agree still carry the nodes' precision
        return float(full.mean()), float(np.hypot(se, np.mean(np.abs(full - half))) + floor)

    def _unpenalized(self, f) -> tuple[float, float]:
        """Σ_j f(t_j, r_j), and (lanczos) how much it moves between half the block steps and all of them."""
        value = float(np.sum(f(self.t, self.r)))
        if self.half is None:
            return value, 0.0
        return value, abs(value - float(np.sum(f(*self.half))))

    def effective_params(self, kappa: float, alpha_b: float) -> tuple[float, float]:
        """γ = tr(A⁻¹κG) and its standard error; NaN at λ = 0, where the prior is improper."""
        lam, eps = self.lam, alpha_b / kappa
        if not lam > 0:
            return math.nan, math.nan
        weights, se_w = self.trace(lambda h: h / (h + 2 * lam))
        biases, se_u = self._unpenalized(lambda t, r: (t - 2 * lam * r) / (t + eps))
        return weights + biases, math.hypot(se_w, se_u)

    def logdet(self, kappa: float, alpha_b: float) -> tuple[float, float]:
        """log det A = P·log κ + Σ log(h + 2λ) + Σ log(t + α_b/κ), and its standard error."""
        lam, eps = self.lam, alpha_b / kappa
        if not lam > 0:
            return math.nan, math.nan
        weights, se_w = self.trace(lambda h: np.log(h + 2 * lam))
        biases, se_u = self._unpenalized(lambda t, r: np.log(t + eps))
        return self.n_parameters * math.log(kappa) + weights + biases, math.hypot(se_w, se_u)

    def newton_decrement(self, kappa: float, alpha_b: float, grad: np.ndarray) -> float:
        """An upper bound on ½·∇Eᵀ A⁻¹ ∇E (E = κJ, ``grad`` = ∇J in the layout of flat()): how far the log
        evidence can be off because θ is not at the minimum. Exact with the exact method; otherwise the
        bound from A ⪰ D, ½κ(‖∇_w J‖²/(2λ) + κ‖∇_u J‖²/α_b)."""
        if self.solve is not None:
            return 0.5 * kappa * float(grad @ self.solve(grad, alpha_b / kappa))
        w, u = grad[:self.n_penalized], grad[self.n_penalized:]  # the penalized ones come first (flat())
        return 0.5 * kappa * (float(w @ w) / (2 * self.lam) + kappa * float(u @ u) / alpha_b)


def output_hessian_sqrt(Z: np.ndarray, loss: str) -> np.ndarray:
    """A factor S_i with S_iᵀS_i = Λ_i for each row of the output logits Z (n, K): (n, K, K). For the softmax,
    S_i = diag(√p) − √p pᵀ, which maps the vector of ones to zero exactly (as Λ_i does) instead of to the
    square root of a round-off eigenvalue."""
    n, K = Z.shape
    if loss == "squared":
        return np.broadcast_to(np.sqrt(2.0) * np.eye(K), (n, K, K))
    if loss == "logistic":
        p = 1.0 / (1.0 + np.exp(-Z[:, 0]))
        return np.sqrt(p * (1 - p))[:, None, None]
    p = softmax(Z[None])[0]
    root = np.sqrt(p)
    return root[:, :, None] * np.eye(K) - root[:, :, None] * p[:, None, :]


def apply_output_hessian(Z: np.ndarray, U: np.ndarray, loss: str) -> np.ndarray:
    """Λ_i u_i for each row: Z, U of shape (n, K)."""
    if loss == "squared":
        return 2.0 * U
    if loss == "logistic":
        p = 1.0 / (1.0 + np.exp(-Z))
        return p * (1 - p) * U
    p = softmax(Z[None])[0]
    return p * U - p * np.sum(p * U, axis=1, keepdims=True)


def penalized_mask(sizes: tuple[int, ...], penalize_bias: bool) -> np.ndarray:
    """Which entries of the flat parameter vector [W_1, …, W_L, b_1, …, b_L] (each row-major) are in Ω."""
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    biases = sum(sizes[1:])
    return np.concatenate([np.ones(weights, bool), np.full(biases, penalize_bias)])


def flat(params: Params) -> np.ndarray:
    """The parameters of a one-model stack as one vector [W_1, …, W_L, b_1, …, b_L]."""
    return np.concatenate([W[0].ravel() for W in params.W] + [b[0].ravel() for b in params.b])


def unflat(v: np.ndarray, sizes: tuple[int, ...]) -> Params:
    """A vector in the layout of flat() as a one-model stack (views into v)."""
    W, b, at = [], [], 0
    for a, c in zip(sizes[:-1], sizes[1:], strict=True):
        W.append(v[at:at + a * c].reshape(1, a, c))
        at += a * c
    for c in sizes[1:]:
        b.append(v[at:at + c].reshape(1, c))
        at += c
    return Params(W, b)


def jacobian(params: Params, X: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """(J, Z): the Jacobian of the outputs by the parameters, (n, K, P) in the layout of flat(), and the
    outputs Z (n, K), of a one-model stack on the rows X. Row i, output a: backpropagation of e_a from that
    row alone, so the per-row products A_{l−1,i} ⊗ δ_{l,i} are kept instead of summed."""
    _, chain = ACTIVATIONS[activation]
    A = forward(params, X, activation)
    Z = A[-1][0]
    n, K = Z.shape
    L = len(params.W)
    blocks_W, blocks_b = [None] * L, [None] * L
    delta = np.broadcast_to(np.eye(K), (n, K, K)).copy()  # ∂f_a/∂Z_L[i] = e_a: (n, K outputs, n_L)
    for l in range(L, 0, -1):
        A_prev = A[l - 1][0] if A[l - 1].ndim == 3 else A[l - 1]
        blocks_W[l - 1] = np.einsum("ni,naj->naij", A_prev, delta).reshape(n, K, -1)
        blocks_b[l - 1] = delta
        if l > 1:
            delta = np.einsum("naj,ij->nai", delta, params.W[l - 1][0])
            delta = chain(delta, np.broadcast_to(A[l - 1][0][:, None, :], delta.shape).copy())
    return np.concatenate(blocks_W + blocks_b, axis=2), Z


def whitened_jacobian(params: Params, X: np.ndarray, activation: str, loss: str, scale: float) -> np.ndarray:
    """B = s^{-1/2} Λ^{1/2} J, (nK × P): G = BᵀB."""
    J, Z = jacobian(params, X, activation)
    B = np.einsum("nab,nbp->nap", output_hessian_sqrt(Z, loss), J) / np.sqrt(scale)
    return B.reshape(-1, J.shape[2])


def ggn_matrix(params: Params, X: np.ndarray, spec) -> np.ndarray:
    """G itself, P × P (for tests and small networks)."""
    B = whitened_jacobian(params, X, spec.activation, spec.loss, reduction_scale(spec, len(X)))
    return B.T @ B


def reduction_scale(spec, n: int) -> float:
    return float(n) if spec.reduction == "mean" else 1.0


def exact(params: Params, X: np.ndarray, spec, lam: float) -> Curvature:
    """h, t and r from the SVD of the whitened Jacobian's penalized columns (see the module docstring)."""
    sizes = params.layer_sizes
    B = whitened_jacobian(params, X, spec.activation, spec.loss, reduction_scale(spec, len(X)))
    mask = penalized_mask(sizes, spec.penalize_bias)
    B_w, B_u = B[:, mask], B[:, ~mask]
    U, sigma, Vt = np.linalg.svd(B_w, full_matrices=False)
    s2 = sigma * sigma
    h = np.zeros(int(mask.sum()))
    h[:len(s2)] = s2
    Y = U.T @ B_u
    B_perp = B_u - U @ Y
    with np.errstate(divide="ignore", invalid="ignore"):  # λ = 0: the prior is improper, t and r unused
        keep, bend = 2 * lam / (s2 + 2 * lam), s2 / (s2 + 2 * lam) ** 2
    T = B_perp.T @ B_perp + (Y.T * keep) @ Y
    t, V = np.linalg.eigh(T) if len(T) else (np.zeros(0), np.zeros((0, 0)))
    r = np.einsum("ij,ij->j", V, ((Y.T * bend) @ Y) @ V)
    G_wu = B_w.T @ B_u

    def solve(g: np.ndarray, eps: float) -> np.ndarray:
        """(A/κ)⁻¹ g, by the weights' block H⁻¹ (from the SVD) and the Schur complement T + ε of the rest."""
        g_w, g_u = g[:len(h)], g[len(h):]

        def h_inv(x):
            inside = Vt @ x
            return Vt.T @ (inside / (s2 + 2 * lam)) + (x - Vt.T @ inside) / (2 * lam)

        y = V @ ((V.T @ (g_u - G_wu.T @ h_inv(g_w))) / (np.clip(t, 0, None) + eps))
        return np.concatenate([h_inv(g_w - G_wu @ y), y])

    # eigenvalues of a positive semi-definite T below 0 are round-off: clipped, they change γ by round-off
    return Curvature(lam, h, np.clip(t, 0, None), np.clip(r, 0, None), len(h), "exact", solve=solve)


def exact_applies(sizes: tuple[int, ...], n: int) -> bool:
    P = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return n * sizes[-1] * P <= EXACT_MAX_ENTRIES
