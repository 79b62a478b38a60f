"""L2MLPClassifierCV against GridSearchCV over scikit-learn's MLPClassifier, in one process run.

    python bench/estimators.py            # W1 and W2, 16 λ × 5 folds; writes bench/results/estimators.csv
    python bench/estimators.py --quick    # a smoke run with few epochs (numbers not meaningful)

The workloads are bench/run.py's (plain SGD, no momentum, the same data, split, epochs, batch size and
learning rate): W1 moons (2-64-64-2, the overhead-bound case) and W2 digits (64-128-10, compute-bound).
Both searches see the same standardized training half and the same 5 stratified folds, choose by
validation log loss (scoring="neg_log_loss", l2cli's validation loss) and refit the chosen value on the
whole training half; its test accuracy is reported beside the other's. scikit-learn's alpha for each λ
is the Conventions table's per-epoch-matched one for the rows of a fold's training part.

The CV estimator trains the 16 λ of each fold as stacked models on n_jobs processes; GridSearchCV runs
its 80 fits on n_jobs processes (joblib's loky), with n_jobs = 2 (both cores) and 1. For reference,
the same run times bench/run.py's pair on the whole training half: the stacked 16-λ sweep (auto
layout, both cores) against the scikit-learn loop of 16 fits (one core). Every time is the best of
ROUNDS interleaved rounds (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LAMBDAS, l2cli_run, sklearn_loop, workloads  # noqa: E402

from l2cli.config import resolve  # noqa: E402
from l2cli.maths.conventions import sklearn_alpha  # noqa: E402
from l2cli.sweeps.experiment import prepare  # noqa: E402
from l2cli.tools.estimators import L2MLPClassifierCV  # noqa: E402
from l2cli.vocabulary.grid import parse_grid  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
FOLDS = 5
ROUNDS = 2


def cpu_name() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor())


def l2cli_search(w, folds, n_jobs: int) -> L2MLPClassifierCV:
    return L2MLPClassifierCV(lams=LAMBDAS, cv=folds, seeds=(0,), hidden=w.hidden, activation="relu", init="glorot",
                             optimizer="sgd", lr=w.lr, epochs=w.epochs, batch_size=w.batch, n_jobs=n_jobs)


def sklearn_search(w, folds, n_fold_train: int, n_jobs: int) -> tuple[GridSearchCV, dict[float, float]]:
    """GridSearchCV over alpha, and alpha -> the λ it stands for."""
    alphas = {sklearn_alpha(lam, "classification", n_fold_train, w.batch): lam for lam in parse_grid(LAMBDAS)}
    clf = MLPClassifier(hidden_layer_sizes=w.hidden, activation="relu", solver="sgd", batch_size=w.batch,
                        learning_rate="constant", learning_rate_init=w.lr, momentum=0.0, nesterovs_momentum=False,
                        max_iter=w.epochs, tol=0.0, n_iter_no_change=10**9, early_stopping=False, shuffle=True,
                        random_state=0)
    return GridSearchCV(clf, {"alpha": list(alphas)}, cv=folds, scoring="neg_log_loss", n_jobs=n_jobs), alphas


def timed(fit) -> float:
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit()
    return time.perf_counter() - t


def measure(w, rounds: int) -> list[dict]:
    split = prepare(resolve(flags=w.flags)).split
    X, y, X_test, y_test = split.X_train, split.y_train, split.X_test, split.y_test
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(X, y))
    n_fold_train = len(folds[0][0])
    best: dict[str, float] = {}
    fitted = {}
    for _ in range(rounds):
        for n_jobs in (2, 1):
            ours = l2cli_search(w, folds, n_jobs)
            theirs, alphas = sklearn_search(w, folds, n_fold_train, n_jobs)
            for name, search in ((f"ours{n_jobs}", ours), (f"theirs{n_jobs}", theirs)):
                best[name] = min(best.get(name, np.inf), timed(lambda search=search: search.fit(X, y)))
                fitted[name] = search
        best["sweep"] = min(best.get("sweep", np.inf), l2cli_run(w, "float64")[0])
        best["loop"] = min(best.get("loop", np.inf), timed(lambda: sklearn_loop(w, split, parse_grid(LAMBDAS), 0,
                                                                                 np.float64)))
    rows = []
    for n_jobs in (2, 1):
        ours, theirs = fitted[f"ours{n_jobs}"], fitted[f"theirs{n_jobs}"]
        rows.append({"workload": w.name, "n_jobs": n_jobs, "l2cli_cv_s": round(best[f"ours{n_jobs}"], 3),
                     "gridsearch_s": round(best[f"theirs{n_jobs}"], 3),
                     "speedup": round(best[f"theirs{n_jobs}"] / best[f"ours{n_jobs}"], 2),
                     "cv_2_cores_vs_this": round(best[f"theirs{n_jobs}"] / best["ours2"], 2),
                     "sweep_vs_loop": round(best["loop"] / best["sweep"], 2),
                     "sweep_s": round(best["sweep"], 3), "loop_s": round(best["loop"], 3),
                     "l2cli_lambda": ours.lam_, "sklearn_lambda": alphas[theirs.best_params_["alpha"]],
                     "l2cli_test_accuracy": round(ours.score(X_test, y_test), 4),
                     "sklearn_test_accuracy": round(theirs.best_estimator_.score(X_test, y_test), 4)})
        print(pd.DataFrame([rows[-1]]).to_string(index=False), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few epochs: checks the script, not the machine")
    args = parser.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} cores; 16 λ × {FOLDS} folds, refit included", flush=True)
    rows = [row for w in workloads(args.quick) for row in measure(w, 1 if args.quick else ROUNDS)]
    OUT.mkdir(exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(OUT / f"estimators{'-quick' if args.quick else ''}.csv", index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
