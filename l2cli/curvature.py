"""The curvature of a trained model: the generalized Gauss–Newton matrix G of L_data, and what L2 does to it.

    G = (1/s) Σ_i J_iᵀ Λ_i J_i,     J_i = ∂f(x_i)/∂θ (K × P),   s = n (mean reduction) or 1 (sum)

    Λ_i = diag(p_i) − p_i p_iᵀ (softmax + cross-entropy),  p_i(1 − p_i) (logistic),  2·I (squared error)

G is positive semi-definite, and for a network without hidden layers it is the exact Hessian of L_data.
Near a minimum θ*, the penalty λΩ shrinks θ*'s component along the i-th eigen-direction of G by
h_i/(h_i + 2λ) (Goodfellow et al., Deep Learning §7.1.1): directions the data pin down survive, flat ones go.
With P selecting the penalized parameters (the weights; the biases too with model.penalize_bias), the
unpenalized ones are eliminated first: the eigenvalues h_i that L2 acts on are those of the Schur
complement S = G_ww − G_wu G_uu⁺ G_uw, and

    γ = tr(G (G + 2λP)⁺) = r_u + Σ_i h_i/(h_i + 2λ)      (MacKay's effective number of parameters)

where r_u is the rank of G_uu (each unpenalized direction the data determine counts fully; with a
softmax, the direction that adds one constant to every class's bias changes nothing and counts not at
all). Likewise log det⁺(G + 2λP) = log det⁺(G_uu) + Σ_i log(h_i + 2λ).

Two methods compute the h_i:

- ``exact``: the whitened Jacobian B = s^{-1/2} Λ^{1/2} J (nK × P) is formed, the unpenalized columns
  projected out (C = (I − Π_u) B_w), and the eigenvalues of the smaller Gram matrix, C Cᵀ (nK × nK) or
  CᵀC, give every h_i (G's rank is at most nK). It applies when nK·P is at most EXACT_MAX_ENTRIES.
- ``lanczos``: stochastic Lanczos quadrature on S, through Gauss–Newton–vector products (J·v by forward
  tangents and Jᵀ·u by backpropagation through l2cli's own network code; G_uu, of the biases only, is
  formed in row blocks): never a dense P × P matrix. ``probes`` Rademacher vectors of ``steps`` Lanczos
  steps each estimate Σ f(h_i) for f(h) = h/(h + 2λ) and log(h + 2λ). The estimate's error combines the
  standard error over the probes with the quadrature's own (how much each probe's estimate moves between
  half its steps and all of them), plus NODE_PRECISION per penalized direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS
from .losses import softmax
from .network import Params, backward, forward

#: The exact method forms the nK × P whitened Jacobian when it has at most this many entries (128 MiB).
EXACT_MAX_ENTRIES = 2**24
#: The relative precision of the quadrature's nodes, a floor under the lanczos estimates' error (per
#: penalized direction).
NODE_PRECISION = 1e-6
#: An unpenalized direction counts (in γ, in log det⁺) when its eigenvalue of G_uu is above RANK_TOL times
#: G_uu's largest: below, it is round-off (a dead unit's bias, the softmax's common shift), not curvature.
#: Both methods use this rule on the same numbers, so they count the same directions.
RANK_TOL = 1e-10


@dataclass
class Curvature:
    """The spectrum L2 acts on for one model: the eigenvalues h (of S, every penalized direction, zeros
    included; lanczos: every probe's Ritz values, whose quadrature weights are in ``probes``), the rank r_u
    and log det⁺ of the unpenalized block, and how they were found."""

    h: np.ndarray
    r_unpenalized: int
    logdet_unpenalized: float
    n_penalized: int
    method: str
    probes: list | None = None  # lanczos: per probe, (nodes, weights) of all its steps and of half of them

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

    def effective_params(self, lam: float) -> tuple[float, float]:
        """γ = r_u + Σ h/(h + 2λ), and its standard error."""
        total, se = self.trace(lambda h: h / (h + 2 * lam) if lam > 0 else (h > 0).astype(float))
        return self.r_unpenalized + total, se

    def logdet(self, lam: float) -> tuple[float, float]:
        """log det⁺(G + 2λP), and its standard error."""
        total, se = self.trace(lambda h: np.log(h + 2 * lam))
        return self.logdet_unpenalized + total, se


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


def rank_and_basis(B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal basis of B's column space and B's nonzero singular values."""
    if B.shape[1] == 0:
        return np.zeros((B.shape[0], 0)), np.zeros(0)
    U, sigma, _ = np.linalg.svd(B, full_matrices=False)
    keep = sigma ** 2 > RANK_TOL * max(sigma.max(initial=0.0) ** 2, 1e-300)
    return U[:, keep], sigma[keep]


def exact(params: Params, X: np.ndarray, spec) -> Curvature:
    """Every eigenvalue of S from the singular values of the projected whitened Jacobian."""
    sizes = params.layer_sizes
    B = whitened_jacobian(params, X, spec.activation, spec.loss, reduction_scale(spec, len(X)))
    mask = penalized_mask(sizes, spec.penalize_bias)
    Q, sigma_u = rank_and_basis(B[:, ~mask])
    C = B[:, mask]
    C = C - Q @ (Q.T @ C)
    gram = C @ C.T if C.shape[0] <= C.shape[1] else C.T @ C  # the smaller of the two: the same nonzero h
    values = np.clip(np.linalg.eigvalsh(gram), 0, None)
    h = np.zeros(int(mask.sum()))
    h[:len(values)] = values
    return Curvature(np.sort(h)[::-1], len(sigma_u), float(np.sum(np.log(sigma_u * sigma_u))),
                     int(mask.sum()), "exact")


def exact_applies(sizes: tuple[int, ...], n: int) -> bool:
    P = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return n * sizes[-1] * P <= EXACT_MAX_ENTRIES


class GaussNewton:
    """Products with G for one model on rows X, in row blocks: G v = (1/s) Jᵀ Λ (J v)."""

    BLOCK = 4096

    def __init__(self, params: Params, X: np.ndarray, spec):
        self.params, self.X, self.spec = params, X, spec
        self.sizes = params.layer_sizes
        self.scale = reduction_scale(spec, len(X))
        g, self.chain = ACTIVATIONS[spec.activation]
        self.blocks = [(start, forward(params, X[start:start + self.BLOCK], spec.activation))
                       for start in range(0, len(X), self.BLOCK)]

    def jvp(self, A: list[np.ndarray], v: Params) -> np.ndarray:
        """J v on one block: forward tangents dZ_l = dA_{l−1} W_l + A_{l−1} dW_l + db_l, dA_l = g'(Z_l) dZ_l."""
        p, L = self.params, len(self.params.W)
        dA = None
        for l in range(1, L + 1):
            A_prev = A[l - 1]
            dZ = np.matmul(A_prev, v.W[l - 1]) + v.b[l - 1][:, None, :]
            if dA is not None:
                dZ += np.matmul(dA, p.W[l - 1])
            dA = self.chain(dZ, A[l]) if l < L else dZ
        return dA[0]

    def product(self, v: np.ndarray) -> np.ndarray:
        """G v for a flat vector v."""
        tangent = unflat(v, self.sizes)
        out = np.zeros_like(v)
        for _, A in self.blocks:
            Z = A[-1][0]
            U = apply_output_hessian(Z, self.jvp(A, tangent), self.spec.loss)
            dW, db = backward(self.params, A, U[None], self.spec.activation)
            out += np.concatenate([d[0].ravel() for d in dW] + [d[0].ravel() for d in db])
        return out / self.scale

    def unpenalized_block(self, mask: np.ndarray) -> np.ndarray:
        """G_uu, formed from the whitened Jacobian's unpenalized columns one row block at a time."""
        u = np.flatnonzero(~mask)
        G = np.zeros((len(u), len(u)))
        for start in range(0, len(self.X), 256):
            B = whitened_jacobian(self.params, self.X[start:start + 256], self.spec.activation, self.spec.loss,
                                  self.scale)[:, u]
            G += B.T @ B
        return G


def quadrature(alpha: list[float], beta: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature of a Lanczos tridiagonal: Ritz values (≥ 0) and the squared first components of their
    eigenvectors (the weights, summing to 1)."""
    k = len(alpha)
    T = np.diag(alpha) + np.diag(beta[:k - 1], 1) + np.diag(beta[:k - 1], -1)
    nodes, vectors = np.linalg.eigh(T)
    return np.clip(nodes, 0, None), vectors[0] ** 2


def lanczos(product, dim: int, steps: int, rng):
    """Gauss quadrature of one Rademacher probe v (‖v‖ = 1) after ``steps`` Lanczos steps with full
    reorthogonalization, and after half of them (whose difference estimates the quadrature's error)."""
    v = rng.choice([-1.0, 1.0], dim) / np.sqrt(dim)
    V = np.zeros((min(steps, dim), dim))
    alpha, beta = [], []
    w_prev, b = np.zeros(dim), 0.0
    for k in range(len(V)):
        V[k] = v
        w = product(v) - b * w_prev
        a = float(v @ w)
        w -= a * v
        w -= V[:k + 1].T @ (V[:k + 1] @ w)  # full reorthogonalization
        alpha.append(a)
        b = float(np.linalg.norm(w))
        if k == len(V) - 1 or b < 1e-12 * max(1.0, abs(a)):
            break
        beta.append(b)
        w_prev, v = v, w / b
    half = max(1, (len(alpha) + 1) // 2)
    return quadrature(alpha, beta), quadrature(alpha[:half], beta[:half])


def estimate(params: Params, X: np.ndarray, spec, probes: int = 10, steps: int = 40, seed: int = 0) -> Curvature:
    """Stochastic Lanczos quadrature on S = G_ww − G_wu G_uu⁺ G_uw (see the module docstring)."""
    gn = GaussNewton(params, X, spec)
    mask = penalized_mask(params.layer_sizes, spec.penalize_bias)
    w, u = np.flatnonzero(mask), np.flatnonzero(~mask)
    G_uu = gn.unpenalized_block(mask) if len(u) else np.zeros((0, 0))
    values, vectors = np.linalg.eigh(G_uu) if len(u) else (np.zeros(0), np.zeros((0, 0)))
    keep = values > RANK_TOL * max(values.max(initial=0.0), 1e-300)
    pinv = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T  # G_uu⁺ on the directions that count

    def schur(x: np.ndarray) -> np.ndarray:
        full = np.zeros(len(mask))
        full[w] = x
        if len(u):
            full[u] = -pinv @ gn.product(full)[u]
        return gn.product(full)[w]

    rng = np.random.default_rng(seed)
    quadratures = [lanczos(schur, len(w), steps, rng) for _ in range(probes)]
    nodes = np.concatenate([q[0][0] for q in quadratures])
    return Curvature(nodes, int(keep.sum()), float(np.sum(np.log(values[keep]))), len(w), "lanczos",
                     quadratures)
