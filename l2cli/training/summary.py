"""The tables of trained points: one summary row per model, one history row per recorded (model, epoch)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..maths.evaluate import evaluate
from ..maths.objective import gradient_norm
from .plan import Point
from .train import TrainResult


def summarize(exp, points: list[Point], trained: TrainResult) -> pd.DataFrame:
    """One row per point: λ, seed, status, epochs, then every metric of :func:`l2cli.maths.evaluate.evaluate`.

    Columns: lambda, seed, status, epochs, (on a warm path: start, warm or cold), {train,test,val}_loss, objective,
    penalty, weight_norm, norm_W1..norm_WL, {train,val,test}_{accuracy|r2}; with the
    lbfgs optimizer, epochs counts iterations and grad_norm = max_i |∂J/∂θ_i| at the end.
    """
    lam = np.array([p.lam for p in points])
    metrics = evaluate(trained.params, lam, exp.split.parts(), exp.spec, scorer=exp.scorer)
    cols: dict[str, object] = {"lambda": lam, "seed": [p.seed for p in points], "status": trained.status,
                               "epochs": trained.epochs}
    if trained.warm is not None:  # a warm path (sweep.path = warm): how each model started
        cols["start"] = np.where(trained.warm, "warm", "cold")
    order = [f"{part}_loss" for part in ("train", "test", "val")] + ["objective", "penalty", "weight_norm"]
    order += sorted((k for k in metrics if k.startswith("norm_W")), key=lambda k: int(k[len("norm_W"):]))
    order += [f"{part}_{exp.scorer.name}" for part in ("train", "val", "test")]
    cols.update({k: np.asarray(metrics[k], dtype=np.float64) for k in order if k in metrics})
    if exp.schedule.method.one_at_a_time:  # how close to its minimum each model stopped
        s = exp.split
        cols["grad_norm"] = gradient_norm(trained.params, lam, s.X_train, s.Y_train, exp.spec)
    return pd.DataFrame(cols)


def history_frame(points: list[Point], hist: dict[str, np.ndarray]) -> pd.DataFrame:
    """The training history of a chunk with each model's λ and seed in place of its position."""
    lam = np.array([p.lam for p in points])
    seed = np.array([p.seed for p in points])
    m = hist["model"]
    cols = {"lambda": lam[m], "seed": seed[m], "epoch": hist["epoch"]}
    cols.update({k: v for k, v in hist.items() if k not in ("model", "epoch")})
    return pd.DataFrame(cols)


def output_names(exp) -> list[str]:
    """A name per output unit: the class of each softmax output, the positive class of a logistic one, or
    the target."""
    s = exp.split
    if s.task != "classification":
        return ["coef"]
    classes = [str(c) for c in s.classes]
    return [f"coef_{c}" for c in (classes[1:] if exp.layer_sizes[-1] == 1 else classes)]


def feature_table(exp, points: list[Point], params) -> pd.DataFrame:
    """What L2 did to each input: one row per (point, feature j) with norm = ‖W1[j, :]‖, the norm of the
    weights leaving that input; for a network without hidden layers also the coefficients W1[j, k], one
    column per output k (see output_names)."""
    W1 = params.W[0].astype(np.float64)  # (M, d, n_1)
    M, d, _ = W1.shape
    cols: dict[str, object] = {
        "lambda": np.repeat([p.lam for p in points], d),
        "seed": np.repeat([p.seed for p in points], d),
        "feature": np.tile(np.asarray(exp.features, dtype=object), M),
        "norm": np.sqrt(np.einsum("mjk,mjk->mj", W1, W1)).ravel(),
    }
    if len(params.W) == 1:
        cols.update({name: W1[:, :, k].ravel() for k, name in enumerate(output_names(exp))})
    return pd.DataFrame(cols)
