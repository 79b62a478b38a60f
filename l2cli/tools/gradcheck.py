"""Check the analytic gradient of J against central finite differences for a configured network.

J = L_data + λΩ is differenced term by term, each at its own scale:

    ∂J/∂θ_j ≈ (L(θ + h e_j) − L(θ − h e_j)) / 2h  +  λ((θ_j + h)² − (θ_j − h)²) / 2h,   h = 1e-6, float64

L_data is evaluated (a mean over the checked rows, of order one). Ω is a sum of squares, so moving θ_j changes
only its own term; differencing that term instead of the whole sum keeps the round-off of a large Ω (λ = 1 on
wide layers: Ω ≈ 10³, and eps·Ω/h ≈ 2e-7 per entry) out of every entry's comparison, biases included.
For each parameter array the relative error is ‖g − g_fd‖ / (‖g‖ + ‖g_fd‖)
over the checked entries (all of them, or a seeded sample of ``max_entries``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..maths.network import init_params
from ..maths.objective import data_loss, objective_grad
from ..sweeps.experiment import prepare
from ..training.train import init_rng


def check_gradients(cfg: Config, rows: int = 16, lam: float | None = None, h: float = 1e-6,
                    max_entries: int = 500) -> pd.DataFrame:
    """One row per layer and parameter (W, b): entries checked, largest absolute and relative error."""
    exp = prepare(cfg.replace({"train.dtype": "float64"}))
    X, Y = exp.split.X_train[:rows], exp.split.Y_train[:rows]
    seed = cfg.sweep.seeds[0]
    params = init_params(exp.layer_sizes, [init_rng(seed)], exp.init, np.float64)
    rng = np.random.default_rng(seed)
    for b in params.b:  # non-zero biases, so that every term of the gradient is exercised
        b += 0.1 * rng.standard_normal(b.shape)
    lam_arr = np.array([max(cfg.sweep.lambdas) if lam is None else lam])
    dW, db = objective_grad(params, X, Y, lam_arr, exp.spec)
    out = []
    L = len(params.W)
    for k, (theta, analytic) in enumerate(zip(params.arrays(), dW + db, strict=True)):
        flat = theta.reshape(-1)
        penalized = k < L or exp.spec.penalize_bias
        entries = np.arange(flat.size)
        if flat.size > max_entries:
            entries = np.sort(rng.choice(flat.size, max_entries, replace=False))
        numeric = np.empty(len(entries))
        for j, e in enumerate(entries):
            old = flat[e]
            flat[e] = old + h
            up = data_loss(params, X, Y, exp.spec)[0]
            flat[e] = old - h
            down = data_loss(params, X, Y, exp.spec)[0]
            flat[e] = old
            penalty = lam_arr[0] * ((old + h) ** 2 - (old - h) ** 2) / (2 * h) if penalized else 0.0
            numeric[j] = (up - down) / (2 * h) + penalty
        a = analytic.reshape(-1)[entries]
        denom = np.linalg.norm(a) + np.linalg.norm(numeric)
        out.append({
            "layer": k % L + 1,
            "param": "W" if k < L else "b",
            "shape": "x".join(map(str, theta.shape[1:])),
            "checked": len(entries),
            "max_abs_error": float(np.max(np.abs(a - numeric))),
            "rel_error": float(np.linalg.norm(a - numeric) / denom) if denom > 0 else 0.0,
        })
    return pd.DataFrame(out).sort_values(["layer", "param"], ignore_index=True)
