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

import numpy as np
from scipy.special import expit


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=z)


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


#: name -> (g, chain rule through g)
ACTIVATIONS = {
    "relu": (relu, relu_chain),
    "tanh": (tanh, tanh_chain),
    "sigmoid": (sigmoid, sigmoid_chain),
    "identity": (identity, identity_chain),
}

#: Initialisation that suits each activation when ``init = "auto"``.
DEFAULT_INIT = {"relu": "he", "tanh": "glorot", "sigmoid": "glorot", "identity": "glorot"}
