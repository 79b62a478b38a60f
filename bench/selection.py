"""The test loss at the λ each selection rule chooses, on four data sets and three data seeds: the table of
docs/mathematics.md ("Choosing λ by the evidence, measured").

    python bench/selection.py            # writes bench/results/selection.csv and prints the table
    python bench/selection.py --quick    # two data sets, one data seed (a smoke run)

Each data set: a one-hidden-layer tanh network of 16 units trained by L-BFGS to its minimum at every λ of
logspace(-5,1,13), model seeds 0-2. One run with a validation split gives the evidence's choice (training rows
alone) and the validation split's (rule min); one run with 5-fold cross-validation on the training rows gives
CV-min and CV-1se. Reported: the mean test loss over the model seeds at each chosen λ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from l2cli.config import resolve  # noqa: E402
from l2cli.sweeps.runner import run_experiment  # noqa: E402

DATASETS = ["diabetes", "wine", "breast_cancer", "moons"]
OUT = Path(__file__).resolve().parent / "results"
COMMON = ["model.hidden=[16]", "model.activation='tanh'", "train.optimizer='lbfgs'", "train.max_iter=3000",
          "train.gtol=1e-7", "sweep.lambdas='logspace(-5,1,13)'", "sweep.seeds=[0,1,2]"]


def test_loss_at(run, lam: float | None) -> float:
    if lam is None:
        return float("nan")
    agg = run.aggregate
    return float(agg.loc[agg["lambda"] == lam, "test_loss_mean"].iloc[0])


def one(dataset: str, seed: int) -> dict:
    data = [f"data.dataset='{dataset}'", f"data.seed={seed}"]
    with tempfile.TemporaryDirectory():
        split = run_experiment(resolve(overrides=[*data, *COMMON, "sweep.select='evidence'",
                                                  "sweep.curvature='exact'"]))
        # 5-fold cross-validation on the training rows: both rules' choices from one run
        cv = run_experiment(resolve(overrides=[*data, *COMMON, "sweep.cv=5", "sweep.curvature='off'"]))
    ev, val = split.selection["by_evidence"], split.selection["by_validation"]
    cv_min, cv_1se = (cv.selection["choices"][rule]["lambda"] for rule in ("min", "1se"))
    return {"dataset": dataset, "data_seed": seed,
            "evidence_lambda": ev["lambda"], "evidence": test_loss_at(split, ev["lambda"]),
            "left_out": split.selection.get("n_left_out", 0),
            "validation_lambda": val["lambda"], "validation": test_loss_at(split, val["lambda"]),
            "cv_min_lambda": cv_min, "cv_min": test_loss_at(cv, cv_min),
            "cv_1se_lambda": cv_1se, "cv_1se": test_loss_at(cv, cv_1se)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    datasets, seeds = (DATASETS[:2], [0]) if args.quick else (DATASETS, [0, 1, 2])
    rows, t0 = [], time.perf_counter()
    for dataset in datasets:
        for seed in seeds:
            rows.append(one(dataset, seed))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if not args.quick:
        OUT.mkdir(exist_ok=True)
        table.to_csv(OUT / "selection.csv", index=False)
    print(table.to_string(index=False))
    means = table.groupby("dataset", sort=False)[["evidence", "validation", "cv_min", "cv_1se"]].mean()
    print(means.to_string(float_format=lambda x: f"{x:.3f}"))
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
