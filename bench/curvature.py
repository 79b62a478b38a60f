"""What the curvature diagnostics cost, against the training they describe, in one process run.

    python bench/curvature.py            # writes bench/results/curvature.csv
    python bench/curvature.py --quick    # a smoke run (few epochs; numbers not meaningful)

For the default experiment (configs/default.toml) and W1 (bench/run.py: moons, n = 1000, 2-64-64-2, 16 λ,
sgd): the sweep's wall time with sweep.curvature = off, then the time of the diagnostics of every model with
the exact method and with stochastic Lanczos quadrature (l2cli.sweeps.diagnostics), each the best of ROUNDS; the
share of the training time each costs; what sweep.curvature = auto decides (its estimate); and, for the
lanczos estimates, the largest difference from the exact values in units of their standard error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import cpu_name  # noqa: E402
from run import workloads  # noqa: E402

from l2cli.config import resolve  # noqa: E402
from l2cli.sweeps.diagnostics import columns, cost_seconds, decide, train_seconds  # noqa: E402
from l2cli.sweeps.runner import prepare_cells, run_experiment  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
ROUNDS = 3
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def experiments(quick: bool):
    default = resolve(CONFIGS / "default.toml", ["train.epochs=20"] if quick else [])
    w1 = resolve(flags=workloads(quick)[0].flags)
    return [("default", default), ("W1", w1)]


def best(fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(ROUNDS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"{cpu_name()}; curvature diagnostics against training, best of {ROUNDS}", flush=True)
    rows = []
    for name, cfg in experiments(args.quick):
        cfg = cfg.replace({"sweep.curvature": "off"})
        train_s, run = best(lambda c=cfg: run_experiment(c))
        exp = prepare_cells(cfg)[0]
        from l2cli.maths.network import Params
        from l2cli.sweeps.engine import Trained  # the run's models, as the runner hands them to the diagnostics
        from l2cli.training.plan import points

        w = run.weights
        L = sum(1 for k in w if k.startswith("W") and k[1:].isdigit())
        trained = Trained(points(cfg.sweep.lambdas, cfg.sweep.seeds),
                          Params([w[f"W{l}"] for l in range(1, L + 1)], [w[f"b{l}"] for l in range(1, L + 1)]),
                          run.summary, run.history, None)
        models = len(trained.points)
        row = {"experiment": name, "models": models, "network": "-".join(map(str, exp.layer_sizes)),
               "train_rows": len(exp.split.X_train), "train_s": round(train_s, 3)}
        found = {}
        for method in ("exact", "lanczos"):
            seconds, found[method] = best(lambda m=method, e=exp, t=trained: columns(e, t, m))
            row[f"{method}_s"] = round(seconds, 3)
            row[f"{method}_share"] = round(seconds / train_s, 3)
            row[f"{method}_estimate_s"] = round(cost_seconds(exp, method, models), 3)
        for key in ("effective_params", "log_evidence"):
            z = (found["lanczos"][key] - found["exact"][key]).abs() / found["lanczos"][f"{key}_se"]
            row[f"{key}_max_z"] = round(float(np.nanmax(z)), 2)
        decision = decide("auto", exp, models)
        row["train_estimate_s"] = round(train_seconds(exp, models), 3)
        row["auto"] = decision.method or "off"
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    OUT.mkdir(exist_ok=True)
    table = pd.DataFrame(rows)
    if not args.quick:
        table.to_csv(OUT / "curvature.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
