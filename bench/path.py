"""The warm-started path against the cold sweep and scikit-learn's two ways, W1 with L-BFGS, in one process run.

    python bench/path.py            # writes bench/results/path.csv and bench/results/path_lambdas.csv
    python bench/path.py --quick    # a smoke run (max_iter 20; numbers not meaningful)

W1 as in bench/lbfgs.py (moons n = 1000, half for training, 2-64-64-1 ReLU with one logistic output, Glorot
initialisation, seed 0, the 16 λ of logspace(-5, 0, 16)), train.max_iter = 2000 and the other L-BFGS
defaults (gtol 1e-4, scipy's ftol, max_fun 15000), on each side:

    l2cli cold      sweep.path = cold: every model from its initialisation
    l2cli warm      sweep.path = warm: λ from the smallest, each model from the previous λ's final parameters
    sklearn cold    one MLPClassifier(solver="lbfgs", alpha = 2·n·λ, random_state=0) per λ
    sklearn warm    one MLPClassifier(warm_start=True) refitted at each λ from the smallest: its own path

l2cli runs on one core (one process, one BLAS thread) and on two (the layout's choice: two processes for
the cold sweep; a warm sweep of one seed is one path, which trains in one process); scikit-learn on one
BLAS thread. Times are the best of ROUNDS interleaved rounds. path.csv has each side's total iterations,
time, models converged (scikit-learn: fewer iterations than max_iter) and the ratios; path_lambdas.csv
each λ's iterations, status, objective J = L + λ·Ω (scikit-learn's loss_, the same J under alpha = 2nλ)
and test accuracy. The objectives are reported, not asserted: a warm model is a minimum of its own J
reached from its neighbour, which need not be the one a cold start finds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import cpu_name  # noqa: E402
from lbfgs import config  # noqa: E402

from l2cli.sweeps.engine import run_points  # noqa: E402
from l2cli.sweeps.experiment import prepare  # noqa: E402
from l2cli.sweeps.layout import Compute  # noqa: E402
from l2cli.training.plan import points  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
ROUNDS = 2


def ours(cfg, path: str, cores: int):
    exp = prepare(cfg)
    exp.path = path
    how = Compute(workers=1, threads=1) if cores == 1 else Compute()
    t = time.perf_counter()
    trained = run_points(exp, points(cfg.sweep.lambdas, cfg.sweep.seeds), how)
    s = trained.summary
    return time.perf_counter() - t, pd.DataFrame({"lambda": s["lambda"], "iterations": s["epochs"],
                                                  "status": s["status"], "objective": s["objective"],
                                                  "test_accuracy": s["test_accuracy"]})


def sklearn(exp, lambdas, max_iter: int, warm: bool):
    s = exp.split
    n = len(s.X_train)
    rows, clf = [], None
    t = time.perf_counter()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for lam in sorted(lambdas) if warm else lambdas:
            if clf is None or not warm:
                clf = MLPClassifier(hidden_layer_sizes=exp.layer_sizes[1:-1], activation="relu", solver="lbfgs",
                                    max_iter=max_iter, random_state=0, warm_start=warm)
            clf.set_params(alpha=2 * n * lam)
            clf.fit(s.X_train, s.y_train)
            rows.append({"lambda": lam, "iterations": clf.n_iter_,
                         "status": "converged" if clf.n_iter_ < max_iter else "max_iter", "objective": clf.loss_,
                         "test_accuracy": clf.score(s.X_test, s.y_test)})
    elapsed = time.perf_counter() - t
    return elapsed, pd.DataFrame(rows).sort_values("lambda", kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="max_iter 20: checks the script, not the machine")
    args = parser.parse_args()
    max_iter = 20 if args.quick else 2000
    cfg = config(max_iter)
    exp = prepare(cfg)
    print(f"{cpu_name()}, {os.cpu_count()} cores; W1 with L-BFGS, 16 λ, max_iter {max_iter}", flush=True)
    sides = {("l2cli cold", 1): lambda: ours(cfg, "cold", 1), ("l2cli cold", 2): lambda: ours(cfg, "cold", 2),
             ("l2cli warm", 1): lambda: ours(cfg, "warm", 1), ("l2cli warm", 2): lambda: ours(cfg, "warm", 2),
             ("sklearn cold", 1): lambda: sklearn(exp, cfg.sweep.lambdas, max_iter, warm=False),
             ("sklearn warm", 1): lambda: sklearn(exp, cfg.sweep.lambdas, max_iter, warm=True)}
    best, tables = {}, {}
    for _ in range(1 if args.quick else ROUNDS):
        for side, fn in sides.items():
            seconds, table = fn()
            best[side] = min(best.get(side, np.inf), seconds)
            tables[side] = table.sort_values("lambda", kind="stable").reset_index(drop=True)
            print(f"{side[0]:13s} {side[1]} core(s): {seconds:6.2f} s, {int(table['iterations'].sum()):6d} iterations",
                  flush=True)
    sk_cold = best[("sklearn cold", 1)]
    cold_iterations = int(tables[("l2cli cold", 1)]["iterations"].sum())
    rows = [{"cpu": cpu_name(), "side": name, "cores": cores, "max_iter": max_iter,
             "seconds": round(best[(name, cores)], 3),
             "iterations": int(t["iterations"].sum()), "converged": int((t["status"] == "converged").sum()),
             "models": len(t), "iterations_vs_l2cli_cold": round(cold_iterations / max(1, t["iterations"].sum()), 2),
             "speedup_vs_sklearn_cold_1core": round(sk_cold / best[(name, cores)], 2)}
            for (name, cores), t in tables.items()]
    summary = pd.DataFrame(rows)
    per_lambda = pd.concat([t.assign(side=name, cores=cores) for (name, cores), t in tables.items()], ignore_index=True)
    OUT.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    summary.to_csv(OUT / f"path{suffix}.csv", index=False)
    per_lambda.to_csv(OUT / f"path_lambdas{suffix}.csv", index=False)
    print(summary.drop(columns="cpu").to_string(index=False))
    wide = per_lambda[per_lambda["cores"] == 1].pivot(index="lambda", columns="side",
                                                      values=["iterations", "objective", "test_accuracy"])
    print(wide.round(4).to_string())


if __name__ == "__main__":
    main()
