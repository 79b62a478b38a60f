"""The W2 sweep on a Dask LocalCluster with 1 and 2 worker processes, against the local executor, in one run.

    python bench/cluster.py            # writes bench/results/dask.csv
    python bench/cluster.py --quick    # few epochs (a smoke run; numbers not meaningful)

W2: digits (half for training), 64-128-10 relu, plain SGD, batch 64, 100 epochs, lr 0.05, 64 models
(16 λ in logspace(-5,0,16) × 4 seeds). Every configuration trains the same chunks of 32 models; the
clusters are started before timing, as a long-lived cluster would be. Each time is the best of 3.
Target (issue 11): 2 workers ≥ 1.7× one worker. The Dask overhead per chunk is measured apart: 64
one-model chunks of one epoch on one worker, against the same chunks in this process.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from l2cli.config import resolve  # noqa: E402
from l2cli.executors import InProcess  # noqa: E402
from l2cli.executors.dask import DaskExecutor  # noqa: E402
from l2cli.sweeps.engine import run_points  # noqa: E402
from l2cli.sweeps.experiment import prepare  # noqa: E402
from l2cli.sweeps.layout import Compute  # noqa: E402
from l2cli.training.plan import points  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


def experiment(epochs: int):
    cfg = resolve(flags={"data.dataset": "digits", "data.test_size": 0.5, "data.val_size": 0.0, "data.seed": 0,
                         "model.hidden": [128], "model.init": "glorot", "train.optimizer": "sgd", "train.lr": 0.05,
                         "train.batch_size": 64, "train.epochs": epochs, "train.history_every": 0,
                         "sweep.lambdas": "logspace(-5,0,16)", "sweep.seeds": [0, 1, 2, 3]})
    return prepare(cfg), points(cfg.sweep.lambdas, cfg.sweep.seeds)


def best_of(fn, reps: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    exp, pts = experiment(5 if args.quick else 100)
    how = Compute(chunk_size=32, workers=2, threads=1)
    rows = []
    t, local = best_of(lambda: run_points(exp, pts, how))
    rows.append({"executor": "local (this process + 1 forked)", "processes": 2, "seconds": t})
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            executor = DaskExecutor(client, threads=1, every_s=60.0)
            t, done = best_of(lambda: run_points(exp, pts, how, executor=executor))  # noqa: B023
            same = all(np.array_equal(a, b) for a, b in zip(local.params.arrays(), done.params.arrays(), strict=True))
            rows.append({"executor": f"dask LocalCluster, {n} worker{'s' * (n > 1)}", "processes": n, "seconds": t,
                         "same_numbers_as_local": same})
            if n == 1:
                tiny, tiny_pts = experiment(1)
                one = Compute(chunk_size=1, workers=1, threads=1)
                t_dask, _ = best_of(lambda: run_points(tiny, tiny_pts, one, executor=executor))  # noqa: B023
                t_here, _ = best_of(lambda: run_points(tiny, tiny_pts, one, executor=InProcess()))  # noqa: B023
                overhead_ms = 1000 * (t_dask - t_here) / len(tiny_pts)
    frame = pd.DataFrame(rows)
    one_worker = frame.loc[frame["executor"].str.endswith("1 worker"), "seconds"].iloc[0]
    frame["speedup_vs_1_dask_worker"] = one_worker / frame["seconds"]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"{cpu}, {os.cpu_count()} cores; W2: 64 models in chunks of 32, {exp.schedule.epochs} epochs")
    print(frame.to_markdown(index=False, floatfmt=".3f"))
    print(f"Dask overhead per chunk: {overhead_ms:.1f} ms (64 one-model chunks of one epoch, one worker, "
          "against the same chunks in this process)")
    OUT.mkdir(exist_ok=True)
    frame.assign(overhead_ms_per_chunk=overhead_ms).to_csv(
        OUT / ("dask-quick.csv" if args.quick else "dask.csv"), index=False)


if __name__ == "__main__":
    main()
