"""The generated datasets, each from a seed: scikit-learn's generators, a noisy curve, an isotropic linear
teacher and modular addition.

    teacher   x ~ N(0, I_d), y = xᵀβ + σε with ‖β‖ = 1 (β drawn once from the seed): isotropic ridge regression,
              where the unregularized test risk peaks at n = d (double descent; Nakkiran et al., ICLR 2021).
              d = data.n_features, σ = data.noise (default 0.5), rows = data.n_samples.
    modular   every pair (a, b) of 0…p−1, one-hot as 2p inputs, class (a + b) mod p: the p² pairs of the
              grokking experiments (Power et al. 2022). p = data.modulus; the training share is
              1 − data.test_size − data.val_size of the p² pairs.
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets as skd

#: each generator's noise when data.noise is not given
DEFAULT_NOISE = {"moons": 0.3, "circles": 0.1, "classification": 0.05, "regression": 10.0, "curve": 0.3,
                 "teacher": 0.5}


def columns(name: str, n_features: int, modulus: int) -> int:
    """How many input columns a generated set has (an estimate made before generating it)."""
    return {"moons": 2, "circles": 2, "curve": 1, "modular": 2 * modulus}.get(name, n_features)


def rows(name: str, n_samples: int, modulus: int) -> int:
    """How many rows a generated set has."""
    return modulus * modulus if name == "modular" else n_samples


def generate(name: str, n_samples: int, noise: float | None, n_features: int, n_classes: int, seed: int,
             modulus: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of the generated dataset ``name`` (see the module docstring)."""
    noise = DEFAULT_NOISE.get(name) if noise is None else noise
    if name == "moons":
        return skd.make_moons(n_samples, noise=noise, random_state=seed)
    if name == "circles":
        return skd.make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
    if name == "classification":
        return skd.make_classification(n_samples, n_features=n_features, n_informative=min(n_features, 5),
                                       n_redundant=0, n_classes=n_classes, n_clusters_per_class=1, flip_y=noise,
                                       random_state=seed)
    if name == "regression":
        return skd.make_regression(n_samples, n_features=n_features, n_informative=min(n_features, 5), noise=noise,
                                   random_state=seed)
    if name == "teacher":
        return teacher(n_samples, n_features, noise, seed)
    if name == "modular":
        return modular(modulus)
    rng = np.random.default_rng(seed)  # curve
    x = rng.uniform(0.0, 1.0, n_samples)
    return x[:, None], np.sin(2 * np.pi * x) + rng.normal(0.0, noise, n_samples)


def teacher(n: int, d: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of x ~ N(0, I_d) and y = xᵀβ + σε, β a unit vector drawn from the seed (first), then the rows."""
    rng = np.random.default_rng(seed)
    beta = rng.standard_normal(d)
    beta /= np.linalg.norm(beta)
    X = rng.standard_normal((n, d))
    return X, X @ beta + sigma * rng.standard_normal(n)


def modular(p: int) -> tuple[np.ndarray, np.ndarray]:
    """The p² pairs (a, b) as one-hot inputs [e_a, e_b] (2p columns), and their classes (a + b) mod p."""
    a, b = np.divmod(np.arange(p * p), p)
    X = np.zeros((p * p, 2 * p))
    X[np.arange(p * p), a] = 1.0
    X[np.arange(p * p), p + b] = 1.0
    return X, (a + b) % p
