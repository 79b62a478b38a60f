"""Hidden-layer activations g and the backward step through them.

Each derivative is written in terms of the activation's *output* a = g(z), so
the backward pass needs only the stored activations, never the pre-activations:

    relu:      g(z) = max(z, 0)            g'(z) = 1[a > 0]
    tanh:      g(z) = tanh z               g'(z) = 1 - a²
    sigmoid:   g(z) = 1 / (1 + e^-z)       g'(z) = a (1 - a)
    identity:  g(z) = z                    g'(z) = 1

``g(z)`` overwrites z (the training loop owns it) and returns it;
``chain(dA, a)`` overwrites dA = ∂L/∂A with ∂L/∂Z = dA ⊙ g'(z) and returns it.
Both work elementwise on arrays of any shape, e.g. (M, n, h) for M stacked
models, n samples and h hidden units.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import expit

from ..vocabulary import choices


def relu(z: np.ndarray) -> np.ndarray:
    # against an array of zeros rather than the scalar 0: numpy's vectorized maximum loop
    # takes two contiguous arrays, and runs about twice as fast as the scalar form here
    return np.maximum(z, _zeros(z.shape, z.dtype), out=z)


@functools.lru_cache(maxsize=16)
def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of zeros, one per shape in use (the workspaces use a handful)."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


def relu_chain(dA: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.multiply(dA, np.greater(a, 0), out=dA)


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


def tanh_chain(dA: np.ndarray, a: np.ndarray) -> np.ndarray:
    dA *= 1 - a * a
    return dA


def sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z, out=z)


def sigmoid_chain(dA: np.ndarray, a: np.ndarray) -> np.ndarray:
    dA *= a * (1 - a)
    return dA


def identity(z: np.ndarray) -> np.ndarray:
    return z


def identity_chain(dA: np.ndarray, a: np.ndarray) -> np.ndarray:
    return dA


#: name -> (g, chain rule through g), for every name in choices.ACTIVATIONS
ACTIVATIONS = {
    "relu": (relu, relu_chain),
    "tanh": (tanh, tanh_chain),
    "sigmoid": (sigmoid, sigmoid_chain),
    "identity": (identity, identity_chain),
}
assert tuple(ACTIVATIONS) == choices.ACTIVATIONS
