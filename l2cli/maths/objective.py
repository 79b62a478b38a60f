"""The regularized objective J(θ) = L_data(θ) + λ·Ω(θ) and its gradient.

    Ω(θ)    = Σ_l ‖W_l‖²_F            (+ Σ_l ‖b_l‖² when biases are penalized)
    ∂Ω/∂W_l = 2 W_l
    ∂J/∂W_l = ∂L_data/∂W_l + 2 λ W_l

L_data is the reduction of the per-sample losses ℓ_i over the n training rows:
``mean`` gives (1/n) Σ_i ℓ_i, ``sum`` gives Σ_i ℓ_i. On a mini-batch B of the
n rows the data term is estimated without bias: (1/|B|) Σ_{i∈B} ℓ_i for mean,
(n/|B|) Σ_{i∈B} ℓ_i for sum.

λ has shape (M,): one strength per stacked model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import loss_grad, loss_sum
from .network import Params, Workspace, backward, forward, predict


@dataclass(frozen=True)
class Spec:
    """What defines the objective besides the data and λ: the model.* keys of the same names (declared, with
    their defaults, in l2cli.config; the loss resolved from model.loss = auto by the task)."""

    activation: str
    loss: str  # cross_entropy, logistic or squared
    reduction: str  # mean or sum
    penalize_bias: bool


def layer_sq_norms(params: Params) -> np.ndarray:
    """‖W_l‖²_F per model and layer, shape (M, L)."""
    return np.stack([np.einsum("mij,mij->m", W, W) for W in params.W], axis=1)


def penalty(params: Params, penalize_bias: bool) -> np.ndarray:
    """Ω(θ) per model, shape (M,)."""
    omega = layer_sq_norms(params).sum(axis=1)
    if penalize_bias:
        omega = omega + sum(np.einsum("mj,mj->m", b, b) for b in params.b)
    return omega


def data_scale(reduction: str, n_batch: int, n_total: int) -> float:
    """Factor turning Σ_{i∈B} ℓ_i into the estimate of L_data on n_total rows."""
    return 1.0 / n_batch if reduction == "mean" else n_total / n_batch


def data_loss(params: Params, X: np.ndarray, Y: np.ndarray, spec: Spec,
              buffers: list[np.ndarray] | None = None) -> np.ndarray:
    """L_data on the whole of (X, Y), per model, shape (M,); ``buffers`` as for network.predict."""
    Z = predict(params, X, spec.activation, buffers)
    return data_scale(spec.reduction, X.shape[-2], X.shape[-2]) * loss_sum(Z, Y, spec.loss)


def objective(params: Params, X: np.ndarray, Y: np.ndarray, lam: np.ndarray, spec: Spec) -> np.ndarray:
    """J(θ) = L_data + λ·Ω per model, shape (M,)."""
    return data_loss(params, X, Y, spec) + lam * penalty(params, spec.penalize_bias)


def data_grad(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    spec: Spec,
    n_total: int | None = None,
    ws: Workspace | None = None,
    scale: float = 1.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(∂L_data/∂W_l, ∂L_data/∂b_l) for l = 1..L, estimated on the batch (X, Y), times ``scale``.

    X is (n, n_0) or (M, n, n_0); Y is (n, K) or (M, n, K). ``n_total`` is the
    number of rows the data term is defined on (default: the batch itself).
    ``ws`` holds preallocated arrays for this batch shape (see network.Workspace).
    """
    A = forward(params, X, spec.activation, None if ws is None else ws.Z)
    n_batch = X.shape[-2]
    dZ = loss_grad(A[-1], Y, spec.loss, out=None if ws is None else ws.dZ[-1])
    dZ *= scale * data_scale(spec.reduction, n_batch, n_total or n_batch)
    return backward(params, A, dZ, spec.activation, ws)


def objective_grad(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    lam: np.ndarray,
    spec: Spec,
    n_total: int | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(∂J/∂W_l, ∂J/∂b_l) = ∂L_data/∂θ + λ·∂Ω/∂θ, with the shapes of W_l and b_l."""
    dW, db = data_grad(params, X, Y, spec, n_total)
    add_penalty_grad(params, dW, db, lam, spec.penalize_bias)
    return dW, db


def objective_and_grad(params: Params, X: np.ndarray, Y: np.ndarray, lam: np.ndarray,
                       spec: Spec) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """(J (M,), ∂J/∂W_l, ∂J/∂b_l) on the whole of (X, Y), from one forward and one backward pass."""
    A = forward(params, X, spec.activation)
    scale = data_scale(spec.reduction, X.shape[-2], X.shape[-2])
    J = scale * loss_sum(A[-1], Y, spec.loss) + lam * penalty(params, spec.penalize_bias)
    dZ = loss_grad(A[-1], Y, spec.loss)
    dZ *= scale
    dW, db = backward(params, A, dZ, spec.activation)
    add_penalty_grad(params, dW, db, lam, spec.penalize_bias)
    return J, dW, db


def add_penalty_grad(params: Params, dW: list[np.ndarray], db: list[np.ndarray], lam: np.ndarray,
                     penalize_bias: bool) -> None:
    """Turn ∂L_data/∂θ into ∂J/∂θ in place: dW_l += 2λ·W_l (and db_l += 2λ·b_l when biases are penalized)."""
    two_lam = 2 * np.asarray(lam, dtype=dW[0].dtype)
    for g, W in zip(dW, params.W, strict=True):
        g += two_lam[:, None, None] * W
    if penalize_bias:
        for g, b in zip(db, params.b, strict=True):
            g += two_lam[:, None] * b


def gradient_norm(params: Params, lam: np.ndarray, X: np.ndarray, Y: np.ndarray, spec: Spec) -> np.ndarray:
    """max_i |∂J/∂θ_i| of each of the M models on (X, Y), shape (M,): the norm scipy's gtol reads."""
    with np.errstate(all="ignore"):
        _, dW, db = objective_and_grad(params, X, Y, np.asarray(lam, dtype=params.W[0].dtype), spec)
    return np.max([np.abs(g).reshape(len(g), -1).max(axis=1) for g in dW + db], axis=0).astype(np.float64)
