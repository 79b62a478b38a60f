"""Data losses ℓ(ŷ, y) on the output-layer pre-activations Z (logits).

    cross_entropy:  ŷ = softmax(Z),  ℓ_i = -Σ_k y_ik log ŷ_ik,           ∂ℓ_i/∂Z_i = ŷ_i - y_i
    logistic:       ŷ = σ(z),        ℓ_i = -y_i log ŷ_i - (1-y_i) log(1-ŷ_i),
                                          = log(1 + e^z_i) - y_i z_i,         ∂ℓ_i/∂z_i = ŷ_i - y_i
    squared:        ŷ = Z,           ℓ_i = Σ_k (y_ik - ŷ_ik)²,           ∂ℓ_i/∂Z_i = 2 (ŷ_i - y_i)

Binary classification uses the softmax over two outputs by default; ``logistic``
is the one-output alternative (scikit-learn's MLPClassifier, a Keras sigmoid
unit), with y_i = 1 for the second class. ``loss_sum`` returns the *sum* over
samples Σ_i ℓ_i per model; the reduction (mean or sum) is applied by
:mod:`l2cli.maths.objective`.

Shapes: Z is (M, n, K) for M stacked models, n samples and K outputs; Y is the
target matrix (n, K) shared by all models or (M, n, K) per model (one-hot rows
for cross_entropy, a 0/1 column for logistic).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import expit


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: Z - max Z - log Σ exp(Z - max Z)."""
    shifted = Z - Z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax over the last axis, computed stably; ``out`` must not overlap Z.

    softmax is unchanged by subtracting any c_i from row i. Here c_i is the row
    mean, a matrix-vector product (much cheaper than a max over a short axis),
    and the row sums are products too. The sums cannot underflow (each holds
    exp(max - mean) ≥ 1); when some Z - c_i is so large that a sum could
    overflow (a row spread beyond ~700 in float64, ~85 in float32), or Z holds
    NaN, the row max is used instead. NaN in Z stays NaN.
    """
    K = Z.shape[-1]
    ones, bound = _row_constants(K, Z.dtype)
    E = np.subtract(Z, np.matmul(Z, ones / K)[..., None], out=out)
    if not E.max() <= bound:
        np.subtract(Z, Z.max(axis=-1, keepdims=True), out=E)
    np.exp(E, out=E)
    E /= np.matmul(E, ones)[..., None]
    return E


@functools.lru_cache(maxsize=8)
def _row_constants(K: int, dtype: np.dtype) -> tuple[np.ndarray, float]:
    """A read-only vector of K ones, and the largest exponent whose exp summed K times stays finite."""
    ones = np.ones(K, dtype)
    ones.flags.writeable = False
    return ones, float(np.log(np.finfo(dtype).max / K))


def loss_sum(Z: np.ndarray, Y: np.ndarray, kind: str) -> np.ndarray:
    """Σ_i ℓ_i per model, shape Z.shape[:-2]."""
    if kind == "cross_entropy":
        return -np.einsum("...nk,...nk->...", np.broadcast_to(Y, Z.shape), log_softmax(Z))
    if kind == "logistic":  # log(1 + e^z) - y z, with log(1 + e^z) = logaddexp(0, z) computed stably
        return (np.logaddexp(0, Z) - Y * Z).sum(axis=(-2, -1))
    residual = Z - Y
    return np.einsum("...nk,...nk->...", residual, residual)


def loss_grad(Z: np.ndarray, Y: np.ndarray, kind: str, out: np.ndarray | None = None) -> np.ndarray:
    """∂(Σ_i ℓ_i)/∂Z, shape of Z; written into ``out`` when given (``out`` must not overlap Z)."""
    if kind == "cross_entropy":
        P = softmax(Z, out)
        P -= Y
        return P
    if kind == "logistic":
        P = expit(Z, out=out)
        P -= Y
        return P
    residual = np.subtract(Z, Y, out=out)
    residual *= 2
    return residual
