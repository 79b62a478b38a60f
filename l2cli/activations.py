"""Hidden-layer activations g and their derivatives g'.

Each derivative is written in terms of the activation's *output* a = g(z), so
the backward pass needs only the stored activations, never the pre-activations:

    relu:      g(z) = max(z, 0)            g'(z) = 1[a > 0]
    tanh:      g(z) = tanh z               g'(z) = 1 - a²
    sigmoid:   g(z) = 1 / (1 + e^-z)       g'(z) = a (1 - a)
    identity:  g(z) = z                    g'(z) = 1

All functions work elementwise on arrays of any shape, e.g. (M, n, h) for M
stacked models, n samples and h hidden units.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def relu_grad(a: np.ndarray) -> np.ndarray:
    return (a > 0).astype(a.dtype)


def tanh_grad(a: np.ndarray) -> np.ndarray:
    return 1 - a * a


def sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z)


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    return a * (1 - a)


def identity(z: np.ndarray) -> np.ndarray:
    return z


def identity_grad(a: np.ndarray) -> np.ndarray:
    return np.ones_like(a)


#: name -> (g, g' as a function of a = g(z))
ACTIVATIONS = {
    "relu": (relu, relu_grad),
    "tanh": (np.tanh, tanh_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "identity": (identity, identity_grad),
}

#: Initialisation that suits each activation when ``init = "auto"``.
DEFAULT_INIT = {"relu": "he", "tanh": "glorot", "sigmoid": "glorot", "identity": "glorot"}
