"""The ``lanczos`` method of l2cli.maths.curvature: h, t and r from Gauss–Newton–vector products alone, for models
whose whitened Jacobian is too large to form (see l2cli.maths.curvature's docstring for what they are).

- h: stochastic Lanczos quadrature on G_ww, ``probes`` Rademacher vectors of ``steps`` steps each;
- t and r: Rayleigh–Ritz on a block Krylov space of G_ww started at G_wu, G_uw f(G_ww) G_wu ≈ Cᵀ f(Θ) C,
  exact once the space is invariant.

Their errors: the standard error over the probes with each quadrature's own (half its steps against all of
them), and for t and r, half the blocks against all of them.
"""

from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS
from .curvature import Curvature, apply_output_hessian, penalized_mask, reduction_scale, unflat
from .network import Params, backward, forward

#: A Lanczos recurrence stops when its next vector is this small against the step's scale: the Krylov space
#: is invariant and the quadrature exact (the numbers do not depend on it; tests/test_curvature.py moves it
#: by 10⁴ either way).
BREAKDOWN = 1e-12


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
        if k == len(V) - 1 or b < BREAKDOWN * max(1.0, abs(a)):
            break
        beta.append(b)
        w_prev, v = v, w / b
    half = max(1, (len(alpha) + 1) // 2)
    return quadrature(alpha, beta), quadrature(alpha[:half], beta[:half])


def krylov(product, start: np.ndarray, blocks: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """An orthonormal basis of span{Q, GQ, …, G^{blocks−1}Q} for Q = ``start``, one block of columns per power
    (each orthogonalized twice against the ones before; a direction below BREAKDOWN of Q's scale is already
    in the space, which is then invariant), and G times each block."""
    basis, images = [], []
    scale = max(float(np.linalg.norm(start, 2)) if start.size else 0.0, 1e-300)
    block = start
    for _ in range(blocks):
        if basis:
            V = np.hstack(basis)
            block = block - V @ (V.T @ block)
            block = block - V @ (V.T @ block)
        U, sv, _ = np.linalg.svd(block, full_matrices=False)
        Q = U[:, sv > BREAKDOWN * scale]
        if not Q.shape[1]:
            break
        basis.append(Q)
        images.append(np.column_stack([product(q) for q in Q.T]))
        block = images[-1]
        if sum(b.shape[1] for b in basis) >= start.shape[0]:
            break
    return basis, images


def ritz(basis: list[np.ndarray], images: list[np.ndarray], start: np.ndarray, lam: float):
    """Rayleigh–Ritz on the span of ``basis``: (G_uw H⁻¹ G_wu, G_uw H⁻² G_wu) ≈ Cᵀ f(Θ) C for the start block
    G_wu, H = G_ww + 2λI."""
    if not basis:
        zero = np.zeros((start.shape[1], start.shape[1]))
        return zero, zero
    V, GV = np.hstack(basis), np.hstack(images)
    theta, Z = np.linalg.eigh((V.T @ GV + GV.T @ V) / 2)
    C = Z.T @ (V.T @ start)
    inv = 1 / (np.clip(theta, 0, None) + 2 * lam)
    return (C.T * inv) @ C, (C.T * inv ** 2) @ C


def bias_block(G_uu: np.ndarray, first: tuple, full: tuple) -> tuple[np.ndarray, ...]:
    """t and r (T's eigenvalues and R's diagonal in T's eigenvectors) from Rayleigh–Ritz estimates ``first``
    (half the blocks) and ``full`` (all of them)."""
    out = []
    for inner, R in (full, first):
        t, V = np.linalg.eigh(G_uu - inner)
        out += [np.clip(t, 0, None), np.clip(np.einsum("ij,ij->j", V, R @ V), 0, None)]
    return tuple(out)


def estimate(params: Params, X: np.ndarray, spec, lam: float, probes: int = 10, steps: int = 40,
             seed: int = 0) -> Curvature:
    """h by stochastic Lanczos quadrature on G_ww, t and r by Rayleigh–Ritz on a block Krylov space of G_ww
    started at G_wu, of as many products as the quadrature takes (see the module docstring)."""
    gn = GaussNewton(params, X, spec)
    mask = penalized_mask(params.layer_sizes, spec.penalize_bias)
    w, u = np.flatnonzero(mask), np.flatnonzero(~mask)

    def embed(x: np.ndarray, where: np.ndarray) -> np.ndarray:
        full = np.zeros(len(mask))
        full[where] = x
        return full

    columns = np.column_stack([gn.product(embed(e, u)) for e in np.eye(len(u))]) if len(u) \
        else np.zeros((len(mask), 0))
    G_wu, G_uu = columns[w], (columns[u] + columns[u].T) / 2

    def product_w(x: np.ndarray) -> np.ndarray:
        return gn.product(embed(x, w))[w]

    rng = np.random.default_rng(seed)
    quadratures = [lanczos(product_w, len(w), steps, rng) for _ in range(probes)]
    nodes = np.concatenate([q[0][0] for q in quadratures])
    blocks = min(steps, max(2, -(-probes * steps // max(len(u), 1)))) if len(u) else 0
    basis, images = krylov(product_w, G_wu, blocks)
    half = max(1, (len(basis) + 1) // 2)
    t, r, t_half, r_half = bias_block(G_uu, ritz(basis[:half], images[:half], G_wu, lam),
                                      ritz(basis, images, G_wu, lam))
    return Curvature(lam, nodes, t, r, len(w), "lanczos", quadratures, (t_half, r_half))
