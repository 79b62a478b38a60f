"""The tables of trained points: one summary row per model, one history row per recorded (model, epoch)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .evaluate import evaluate
from .plan import Point
from .train import TrainResult


def summarize(exp, points: list[Point], trained: TrainResult) -> pd.DataFrame:
    """One row per point: λ, seed, status, epochs, then every metric of :func:`l2cli.evaluate.evaluate`.

    Columns: lambda, seed, status, epochs, {train,test,val}_loss, objective,
    penalty, weight_norm, norm_W1..norm_WL, {train,val,test}_{accuracy|r2}.
    """
    lam = np.array([p.lam for p in points])
    metrics = evaluate(trained.params, lam, exp.split.parts(), exp.spec, scorer=exp.scorer)
    cols: dict[str, object] = {"lambda": lam, "seed": [p.seed for p in points], "status": trained.status,
                               "epochs": trained.epochs}
    order = [f"{part}_loss" for part in ("train", "test", "val")] + ["objective", "penalty", "weight_norm"]
    order += sorted((k for k in metrics if k.startswith("norm_W")), key=lambda k: int(k[len("norm_W"):]))
    order += [f"{part}_{exp.scorer.name}" for part in ("train", "val", "test")]
    cols.update({k: np.asarray(metrics[k], dtype=np.float64) for k in order if k in metrics})
    return pd.DataFrame(cols)


def history_frame(points: list[Point], hist: dict[str, np.ndarray]) -> pd.DataFrame:
    """The training history of a chunk with each model's λ and seed in place of its position."""
    lam = np.array([p.lam for p in points])
    seed = np.array([p.seed for p in points])
    m = hist["model"]
    cols = {"lambda": lam[m], "seed": seed[m], "epoch": hist["epoch"]}
    cols.update({k: v for k, v in hist.items() if k not in ("model", "epoch")})
    return pd.DataFrame(cols)
