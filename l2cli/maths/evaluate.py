"""Measuring stacked models on data: every number l2cli reports about a model comes from here.

For M models and each part of the data (train, val, test):

    {part}_loss  = L_data on that part (the penalty not included)
    objective    = J = train_loss + λ·Ω
    penalty      = Ω = Σ_l ‖W_l‖²_F  (+ Σ_l ‖b_l‖² when biases are penalized)
    weight_norm  = √(Σ_l ‖W_l‖²_F),   norm_W{l} = ‖W_l‖_F
    {part}_accuracy or {part}_r2, with a Scorer

The training loop's measurements and the summary table both call
:func:`evaluate`, so the history's last row and the summary agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import loss_sum
from .network import Params, eval_buffers, predict
from .objective import Spec, data_scale, layer_sq_norms, penalty


@dataclass(frozen=True)
class Part:
    """One part of the data: X (n, d), the targets Y (n, K) as trained on, the raw labels or targets y (n,)."""

    name: str
    X: np.ndarray
    Y: np.ndarray
    y: np.ndarray | None = None


@dataclass(frozen=True)
class Scorer:
    """Accuracy (classification) or R² on the original target scale (regression) of output logits."""

    task: str
    classes: np.ndarray | None = None
    target_mean: float = 0.0
    target_scale: float = 1.0

    @property
    def name(self) -> str:
        return "accuracy" if self.task == "classification" else "r2"

    def __call__(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Scores (M,) of the logits Z (M, n, K) against y (n,); NaN where a model's outputs are not all finite."""
        out = np.full(Z.shape[0], np.nan)
        finite = np.isfinite(Z).all(axis=(1, 2))
        if finite.any():
            out[finite] = self._accuracy(Z[finite], y) if self.task == "classification" else self._r2(Z[finite], y)
        return out

    def _accuracy(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.mean(self.classes[class_index(Z)] == y, axis=1)

    def _r2(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """R² per model; with K outputs (y (n, K)), the mean of the outputs' R² (scikit-learn's
        uniform_average)."""
        y = y.reshape(len(y), -1)
        per_output = [r2(y[:, k], Z[:, :, k] * self.target_scale + self.target_mean) for k in range(Z.shape[2])]
        return per_output[0] if len(per_output) == 1 else np.mean(per_output, axis=0)


def r2(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of each row of ``predicted`` (M, n) against y (n,), shape (M,); as
    scikit-learn's r2_score (1 for a perfect fit of a constant y, else 0 there). Each model's sums run over
    its own row, so its R² does not depend on the other models of the stack, to the last bit."""
    y = np.asarray(y, dtype=np.float64)
    residual = predicted - y
    ss_res = np.einsum("mn,mn->m", residual, residual)
    centred = y - y.mean()
    ss_tot = float(centred @ centred)
    if ss_tot == 0:
        return np.where(ss_res == 0, 1.0, 0.0)
    return 1.0 - ss_res / ss_tot


def class_probabilities(Z: np.ndarray) -> np.ndarray:
    """Each class's probability for the rows of the logits Z (n, K), (n, classes): the softmax, or for one
    logistic output (1 − σ(z), σ(z)), σ(z) being the second class's."""
    from .losses import softmax

    if Z.shape[-1] == 1:
        p = 1.0 / (1.0 + np.exp(-Z[:, 0]))
        return np.column_stack([1.0 - p, p])
    return softmax(Z)


def scored_by_targets(parts: list[Part], loss: str) -> tuple[list[Part], Scorer]:
    """The parts with labels read off the targets they are trained on, and the Scorer of them: accuracy (the
    class of the one-hot row, or of the 0/1 logistic target) or R² (on the standardized target, which R²
    does not see: it is the same on the original scale). What the training loop records in history.csv with
    train.history_metrics, where the raw labels are not at hand."""
    if loss == "squared":
        return [Part(p.name, p.X, p.Y, p.Y[:, 0] if p.Y.shape[1] == 1 else p.Y) for p in parts], Scorer("regression")
    K = parts[0].Y.shape[1]
    labelled = [Part(p.name, p.X, p.Y, p.Y[:, 0].astype(int) if K == 1 else p.Y.argmax(axis=1)) for p in parts]
    return labelled, Scorer("classification", np.arange(max(K, 2)))


def class_index(Z: np.ndarray) -> np.ndarray:
    """The most probable class of each row of the logits Z (..., n, K): the largest logit, or z > 0 for one
    logistic output. Shape (..., n)."""
    return (Z[..., 0] > 0).astype(int) if Z.shape[-1] == 1 else Z.argmax(axis=-1)


#: The outputs of an evaluation are formed for at most about this many numbers (model × row × output) at a
#: time: a larger stack is measured in groups of models, each model's numbers being its own whatever else
#: shares its stack. The memory of measuring a chunk then stays the same whatever its size.
EVAL_OUTPUT_ELEMENTS = 2**20


def evaluate(params: Params, lam: np.ndarray, parts: list[Part], spec: Spec,
             buffers: list[np.ndarray] | None = None, scorer: Scorer | None = None) -> dict[str, np.ndarray]:
    """Every metric of the M models of ``params`` (see the module docstring), each of shape (M,).

    ``parts`` must include the training part (named "train"); ``buffers`` as for
    network.predict (made here when not given). A diverged model's numbers stay
    NaN/inf, without warnings.
    """
    M = params.n_models
    lam = np.broadcast_to(np.asarray(lam), (M,))
    group = max(1, EVAL_OUTPUT_ELEMENTS // (max(len(p.X) for p in parts) * params.layer_sizes[-1]))
    if group < M:
        outs = [evaluate(params.take(rows), lam[rows], parts, spec,
                         None if buffers is None else [b[:len(rows)] for b in buffers], scorer)
                for rows in np.array_split(np.arange(M), -(-M // group))]
        return {k: np.concatenate([out[k] for out in outs]) for k in outs[0]}
    with np.errstate(all="ignore"):
        if buffers is None:
            buffers = eval_buffers(params, max(len(p.X) for p in parts))
        out: dict[str, np.ndarray] = {}
        for part in parts:
            Z = predict(params, part.X, spec.activation, buffers)
            n = part.X.shape[-2]
            out[f"{part.name}_loss"] = data_scale(spec.reduction, n, n) * loss_sum(Z, part.Y, spec.loss)
            if scorer is not None:
                out[f"{part.name}_{scorer.name}"] = scorer(Z, part.y)
        sq = layer_sq_norms(params)
        omega = penalty(params, spec.penalize_bias)
        out["objective"] = out["train_loss"] + lam * omega
        out["penalty"] = omega
        out["weight_norm"] = np.sqrt(sq.sum(axis=1))
        for l in range(sq.shape[1]):
            out[f"norm_W{l + 1}"] = np.sqrt(sq[:, l])
    return out
