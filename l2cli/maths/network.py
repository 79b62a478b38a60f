"""A multilayer perceptron whose every parameter carries a leading model axis.

A network with layer sizes (n_0, n_1, ..., n_L) has L layers. Layer l
(1-based, as in the formulas) maps activations A_{l-1} to

    Z_l = A_{l-1} W_l + b_l,      A_l = g(Z_l)   for l < L,    A_L = Z_L,

where A_0 = X. The output layer is linear; the loss (softmax cross-entropy or
squared error) lives in :mod:`l2cli.maths.losses`.

M models are stored together: W_l has shape (M, n_{l-1}, n_l) and b_l has shape
(M, n_l). A single model is the case M = 1. Model m is initialised from its
own seed, so a model's numbers do not depend on which other models it is
stacked with.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .activations import ACTIVATIONS


@dataclass
class Params:
    """Stacked parameters: ``W[l-1]`` is W_l with shape (M, n_{l-1}, n_l), ``b[l-1]`` is b_l, (M, n_l)."""

    W: list[np.ndarray]
    b: list[np.ndarray]

    @property
    def n_models(self) -> int:
        return self.W[0].shape[0]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.W[0].shape[1],) + tuple(W.shape[2] for W in self.W)

    def arrays(self) -> list[np.ndarray]:
        """All parameter arrays, weights first: [W_1..W_L, b_1..b_L]."""
        return self.W + self.b

    def copy(self) -> Params:
        return Params([W.copy() for W in self.W], [b.copy() for b in self.b])

    def take(self, models) -> Params:
        """The sub-stack of the given model indices (a copy)."""
        return Params([W[models] for W in self.W], [b[models] for b in self.b])

    def state_dict(self) -> dict:
        return {"W": self.W, "b": self.b}

    @classmethod
    def from_state_dict(cls, state: dict) -> Params:
        return cls([np.array(W) for W in state["W"]], [np.array(b) for b in state["b"]])

    @staticmethod
    def concat(parts: list[Params]) -> Params:
        """Stack the models of several Params along the model axis."""
        L = len(parts[0].W)
        return Params(
            [np.concatenate([p.W[l] for p in parts]) for l in range(L)],
            [np.concatenate([p.b[l] for p in parts]) for l in range(L)],
        )


def training_flops_per_row(layer_sizes: tuple[int, ...]) -> int:
    """FLOPs of the matrix products of one training row: forward Σ 2·n_{l-1}·n_l,
    ∂W the same again, ∂A for every layer but the first."""
    pairs = list(pairwise(layer_sizes))
    return 4 * sum(a * b for a, b in pairs) + 2 * sum(a * b for a, b in pairs[1:])


def init_params(
    layer_sizes: tuple[int, ...],
    rngs: list[np.random.Generator],
    init: str,
    dtype=np.float64,
) -> Params:
    """Initialise one model per generator in ``rngs``.

    he:     W_l ~ N(0, 2 / n_{l-1})
    glorot: W_l ~ U(-r, r),  r = sqrt(6 / (n_{l-1} + n_l))
    Biases start at zero. Draws are made in float64 and then cast, so a
    float32 model starts from the rounded float64 one.
    """
    W = [np.empty((len(rngs), n_in, n_out)) for n_in, n_out in pairwise(layer_sizes)]
    for m, rng in enumerate(rngs):
        for Wl in W:
            n_in, n_out = Wl.shape[1:]
            if init == "he":
                Wl[m] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
            elif init == "glorot":
                r = np.sqrt(6.0 / (n_in + n_out))
                Wl[m] = rng.uniform(-r, r, size=(n_in, n_out))
            else:
                raise ValueError(f"unknown init {init!r}")
    b = [np.zeros((len(rngs), Wl.shape[2])) for Wl in W]
    return Params([Wl.astype(dtype) for Wl in W], [bl.astype(dtype) for bl in b])


#: Largest W_l (entries per model) whose transpose backward copies to C order before the product
#: ∂L/∂Z_l W_lᵀ. Measured here (OpenBLAS, 8 models, 32 rows): copy and product take 0.9× the time
#: of the product with the transposed view at 64×64 and 96×96, but 1.2× at 128×128 and 2.4× at
#: 256×256, where the strided copy itself is the slow part.
COPY_TRANSPOSE_MAX = 8192


@dataclass
class Workspace:
    """Preallocated arrays for M models on batches of n rows, reused by every step.

    Z[l-1] holds Z_l (then A_l), dZ[l-1] holds ∂L/∂Z_l, dW and db the gradients,
    WT[l-1] a C-ordered copy of W_lᵀ (None when W_l is too large to gain from one, see
    COPY_TRANSPOSE_MAX), ones the (n,) vector that sums over rows.
    """

    Z: list[np.ndarray]
    dZ: list[np.ndarray]
    dW: list[np.ndarray]
    db: list[np.ndarray]
    WT: list[np.ndarray | None]
    ones: np.ndarray

    @staticmethod
    def create(layer_sizes: tuple[int, ...], M: int, n: int, dtype) -> Workspace:
        pairs = list(pairwise(layer_sizes))
        return Workspace(
            Z=activation_buffers(layer_sizes, M, n, dtype),
            dZ=[np.empty((M, n, b), dtype) for _, b in pairs],
            dW=[np.empty((M, a, b), dtype) for a, b in pairs],
            db=[np.empty((M, b), dtype) for _, b in pairs],
            WT=[np.empty((M, b, a), dtype) if a * b <= COPY_TRANSPOSE_MAX else None for a, b in pairs],
            ones=np.ones(n, dtype),
        )


def forward(params: Params, X: np.ndarray, activation: str,
            out: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Activations [A_0, A_1, ..., A_L] with A_0 = X and A_L the output logits Z_L.

    X is (n, n_0), shared by all models, or (M, n, n_0), one batch per model.
    A_l for l ≥ 1 has shape (M, n, n_l); it is written into ``out[l-1]`` when
    ``out`` is given (e.g. a Workspace's Z).
    """
    g, _ = ACTIVATIONS[activation]
    A = [X]
    L = len(params.W)
    for l, (W, b) in enumerate(zip(params.W, params.b, strict=True), start=1):
        Z = np.matmul(A[-1], W, out=None if out is None else out[l - 1])
        Z += b[:, None, :]
        A.append(g(Z) if l < L else Z)
    return A


def backward(
    params: Params, A: list[np.ndarray], dZ: np.ndarray, activation: str, ws: Workspace | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Backpropagate ∂L/∂Z_L through the network.

    dZ is ∂L/∂Z_L with shape (M, n, n_L). Returns (∂L/∂W_l, ∂L/∂b_l) for
    l = 1..L with the shapes of W_l and b_l:

        ∂L/∂W_l = A_{l-1}ᵀ ∂L/∂Z_l
        ∂L/∂b_l = Σ_i ∂L/∂Z_l[i]
        ∂L/∂Z_{l-1} = (∂L/∂Z_l W_lᵀ) ⊙ g'(A_{l-1})

    With a workspace the results are its arrays, valid until its next use.
    """
    _, chain = ACTIVATIONS[activation]
    L = len(params.W)
    ones = np.ones(dZ.shape[-2], dZ.dtype) if ws is None else ws.ones
    dW: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    db: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        A_prev = A[l - 1]
        dW[l - 1] = np.matmul(np.swapaxes(A_prev, -1, -2), dZ, out=None if ws is None else ws.dW[l - 1])
        db[l - 1] = np.matmul(ones, dZ, out=None if ws is None else ws.db[l - 1])  # Σ over rows, as a product
        if l > 1:
            W_T = np.swapaxes(params.W[l - 1], -1, -2)
            if W_T[0].size <= COPY_TRANSPOSE_MAX:  # small: BLAS multiplies by a C-ordered copy faster
                W_T = np.ascontiguousarray(W_T) if ws is None else _copy(ws.WT[l - 1], W_T)
            dZ = chain(np.matmul(dZ, W_T, out=None if ws is None else ws.dZ[l - 2]), A_prev)
    return dW, db


def _copy(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    np.copyto(dst, src)
    return dst


#: When a whole data set goes through the network, it goes in blocks of rows
#: small enough that each activation buffer holds at most this many numbers.
EVAL_BLOCK_ELEMENTS = 2**18


def activation_buffers(layer_sizes: tuple[int, ...], M: int, rows: int, dtype) -> list[np.ndarray]:
    """Arrays for A_1..A_L of M models on ``rows`` rows: shapes (M, rows, n_l)."""
    return [np.empty((M, rows, h), dtype) for h in layer_sizes[1:]]


def eval_buffers(params: Params, n: int, dtype=None) -> list[np.ndarray]:
    """Activation buffers for evaluating the models of ``params`` on data sets of up to n rows:
    blocks of as many rows as EVAL_BLOCK_ELEMENTS allows (at most n)."""
    sizes, M = params.layer_sizes, params.n_models
    rows = max(1, min(n, EVAL_BLOCK_ELEMENTS // (M * max(sizes[1:]))))
    return activation_buffers(sizes, M, rows, params.W[0].dtype if dtype is None else dtype)


def predict(params: Params, X: np.ndarray, activation: str, buffers: list[np.ndarray] | None = None) -> np.ndarray:
    """Output logits Z_L, shape (M, n, n_L), for X (n, n_0) or (M, n, n_0).

    The rows go through the network in blocks, through ``buffers`` (from
    eval_buffers or activation_buffers, any number of rows; made here if not
    given). A caller that evaluates again and again passes the same buffers,
    so no new memory is touched after the first time.
    """
    M, n = params.n_models, X.shape[-2]
    if buffers is None:
        buffers = eval_buffers(params, n, np.result_type(X, params.W[0]))
    rows = buffers[0].shape[1]
    Z = np.empty((M, n, buffers[-1].shape[2]), buffers[-1].dtype)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        A = forward(params, X[..., start:stop, :], activation, [H[:, :stop - start] for H in buffers])
        Z[:, start:stop] = A[-1]
    return Z
