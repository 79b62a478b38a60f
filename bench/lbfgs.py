"""The 16-λ W1 sweep with L-BFGS against the scikit-learn L-BFGS loop, in one process run.

    python bench/lbfgs.py            # writes bench/results/lbfgs.csv
    python bench/lbfgs.py --quick    # a smoke run (max_iter 5; numbers not meaningful)

W1's data and network (moons, n = 1000, half for training, 2-64-64 ReLU, Glorot initialisation, the 16 λ
of logspace(-5, 0, 16)) with one logistic output, scikit-learn's binary network, so that both minimize
the same J: l2cli with train.optimizer = lbfgs (the auto layout: both cores; and in one process with
the same BLAS threads per process, which must give the same bits) against one
MLPClassifier(solver="lbfgs", alpha = 2·n·λ) per λ (one core), both with scikit-learn's defaults
(max_iter 200, gtol = tol 1e-4, max_fun 15000) and scipy's ftol. Times are the best of ROUNDS
interleaved rounds; the table also gives the iterations, the statuses and the test accuracy per λ.
The scikit-learn loop runs on one BLAS thread: with the default two, OpenBLAS splits its 500-row
products across both cores and the loop is about 8 times slower here (sklearn_default_threads_s,
one round).
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
from run import LAMBDAS, workloads  # noqa: E402

from l2cli.config import resolve  # noqa: E402
from l2cli.sweeps.engine import run_points  # noqa: E402
from l2cli.sweeps.experiment import compute, prepare  # noqa: E402
from l2cli.sweeps.layout import Compute  # noqa: E402
from l2cli.training.plan import points  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
ROUNDS = 3


def config(max_iter: int):
    w1 = workloads(quick=False)[0]
    flags = {k: v for k, v in w1.flags.items() if not k.startswith("train.")}
    return resolve(flags={**flags, "model.loss": "logistic", "train.optimizer": "lbfgs", "train.max_iter": max_iter,
                          "train.history_every": 0, "sweep.lambdas": LAMBDAS, "sweep.seeds": [0]})


def sklearn_loop(exp, lambdas, max_iter: int) -> tuple[float, list[MLPClassifier]]:
    s = exp.split
    n = len(s.X_train)
    t = time.perf_counter()
    models = []
    for lam in lambdas:
        clf = MLPClassifier(hidden_layer_sizes=exp.layer_sizes[1:-1], activation="relu", solver="lbfgs",
                            alpha=2 * n * lam, max_iter=max_iter, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models.append(clf.fit(s.X_train, s.y_train))
    return time.perf_counter() - t, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 iterations: checks the script, not the machine")
    args = parser.parse_args()
    cfg = config(5 if args.quick else 200)
    exp = prepare(cfg)
    pts = points(cfg.sweep.lambdas, cfg.sweep.seeds)
    print(f"{cpu_name()}, {os.cpu_count()} cores; W1 with L-BFGS, 16 λ, max_iter {cfg.train.max_iter}", flush=True)
    ours_s, one_s, theirs_s = np.inf, np.inf, np.inf
    for _ in range(1 if args.quick else ROUNDS):
        t = time.perf_counter()
        trained = run_points(exp, pts, compute(cfg))
        ours_s = min(ours_s, time.perf_counter() - t)
        t = time.perf_counter()
        one = run_points(exp, pts, Compute(workers=1, threads=trained.layout.threads))  # same BLAS threads, same bits
        one_s = min(one_s, time.perf_counter() - t)
        with threadpool_limits(limits=1, user_api="blas"):  # its faster setting here (see the docstring)
            elapsed, models = sklearn_loop(exp, cfg.sweep.lambdas, cfg.train.max_iter)
        theirs_s = min(theirs_s, elapsed)
    default_threads_s = sklearn_loop(exp, cfg.sweep.lambdas, cfg.train.max_iter)[0]
    assert all(np.array_equal(a, b) for a, b in zip(trained.params.arrays(), one.params.arrays(), strict=True))
    s = trained.summary
    table = pd.DataFrame({"lambda": s["lambda"], "l2cli_status": s["status"], "l2cli_iterations": s["epochs"],
                          "sklearn_iterations": [m.n_iter_ for m in models],
                          "l2cli_objective": s["objective"],
                          "l2cli_test_accuracy": s["test_accuracy"],
                          "sklearn_test_accuracy": [m.score(exp.split.X_test, exp.split.y_test) for m in models]})
    table["l2cli_s"], table["l2cli_one_process_s"], table["sklearn_s"] = round(ours_s, 3), round(one_s, 3), \
        round(theirs_s, 3)
    table["sklearn_default_threads_s"] = round(default_threads_s, 3)
    table["speedup"] = round(theirs_s / ours_s, 2)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / f"lbfgs{'-quick' if args.quick else ''}.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".4g"))
    print(f"l2cli {ours_s:.2f} s (one process: {one_s:.2f} s), scikit-learn loop {theirs_s:.2f} s: "
          f"{theirs_s / ours_s:.2f}× ({theirs_s / one_s:.2f}× on one core; its default threads: "
          f"{default_threads_s:.2f} s); "
          f"iterations {s['epochs'].sum()} against {sum(m.n_iter_ for m in models)}")


if __name__ == "__main__":
    main()
