"""Benchmarks of the stacked engine against a scikit-learn loop and a PyTorch loop, in one process run.

    python bench/run.py            # everything: W1, W2, scaling; writes bench/results/*.csv
    python bench/run.py --quick    # a smoke run with few epochs (numbers not meaningful)

Workloads (plain SGD, no momentum, same data, split, epochs, batch size and learning rate):
  W1  moons n=1000 (half train), noise 0.3, 2-64-64-2 relu, batch 32, 200 epochs, 16 λ in logspace(-5,0,16)
  W2  digits (half train), 64-128-10 relu, batch 64, 100 epochs, the same 16 λ

The strongest PyTorch peer races beside the loops: every model of the sweep in one stack of tensors, one
``baddbmm`` per layer, autograd, SGD with weight_decay 2λ, from l2cli's own initial weights and batches
(bench/torch_batched.py), on one thread and on all; l2cli is timed on one thread (one process, one BLAS
thread) for the first and with its automatic layout for the second.

Tables: speed.csv (times, ratios, GFLOP/s, memory), accuracy.csv (test accuracy over seeds beside
scikit-learn's; for W1 also with the one-output logistic head, scikit-learn's own binary network),
step.csv (one step of an 8-model stack against its matrix products alone), scaling.csv.

scikit-learn's MLP scales its penalty by the rows of each batch (``alpha / (2·rows) · ‖W‖²`` per
step), so its last, partial batch of an epoch is penalized more strongly than the others (for W2,
2 rows against 64: 32 times). No single alpha reproduces λ at every step; ``sklearn_alpha`` picks
the one that applies the same total shrinkage per epoch, alpha = 2λ · n_batches / Σ_k 1/rows_k
(2·batch·λ when the batches divide the rows evenly). PyTorch takes weight_decay = 2λ on the
weights only; its batches are the same size as ours, so no correction is needed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torch_batched import torch_batched  # noqa: E402  (bench/torch_batched.py: the batched PyTorch peer)

from l2cli.config import resolve  # noqa: E402
from l2cli.maths.conventions import sklearn_alpha  # noqa: E402
from l2cli.maths.network import training_flops_per_row  # noqa: E402
from l2cli.sweeps.engine import run_points  # noqa: E402
from l2cli.sweeps.experiment import compute, prepare  # noqa: E402
from l2cli.training.plan import points  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
LAMBDAS = "logspace(-5,0,16)"
SEEDS = (0, 1, 2)
CORES = os.cpu_count() or 1


@dataclass
class Workload:
    name: str
    flags: dict
    hidden: tuple[int, ...]
    batch: int
    epochs: int
    lr: float


def workloads(quick: bool) -> list[Workload]:
    e1, e2 = (10, 5) if quick else (200, 100)
    common = {"train.optimizer": "sgd", "train.history_every": 0, "sweep.lambdas": LAMBDAS, "model.init": "glorot",
              "model.activation": "relu", "data.test_size": 0.5, "data.val_size": 0.0, "data.seed": 0}
    return [
        Workload("W1", {**common, "data.dataset": "moons", "data.n_samples": 1000, "data.noise": 0.3,
                        "model.hidden": [64, 64], "train.batch_size": 32, "train.epochs": e1, "train.lr": 0.05},
                 (64, 64), 32, e1, 0.05),
        Workload("W2", {**common, "data.dataset": "digits", "model.hidden": [128], "train.batch_size": 64,
                        "train.epochs": e2, "train.lr": 0.05}, (128,), 64, e2, 0.05),
    ]


def flops_per_model(layer_sizes, n_train, epochs) -> float:
    """FLOPs of the matrix products of training one model (see l2cli.maths.network.training_flops_per_row)."""
    return training_flops_per_row(layer_sizes) * n_train * epochs


def gemm_peak(dtype, n=2048, reps=5) -> float:
    """Best GFLOP/s of an n×n matrix product with every core's BLAS threads."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    b = a.T.copy()
    with threadpool_limits(limits=CORES, user_api="blas"):
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def l2cli_run(w: Workload, dtype: str, lambdas=LAMBDAS, seeds=(0,), **extra):
    flags = {**w.flags, "train.dtype": dtype, "sweep.lambdas": lambdas, "sweep.seeds": list(seeds), **extra}
    cfg = resolve(flags=flags)
    exp = prepare(cfg)
    t = time.perf_counter()
    result = run_points(exp, points(cfg.sweep.lambdas, cfg.sweep.seeds), compute(cfg))
    return time.perf_counter() - t, result, exp


def l2cli_peak_memory(w: Workload, dtype: str) -> float:
    """Peak traced memory (MiB) of one stack of all 16 models in this process."""
    gc.collect()
    tracemalloc.start()
    l2cli_run(w, dtype, **{"sweep.workers": 1})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def sklearn_loop(w: Workload, split, lambdas, seed: int, dtype) -> tuple[float, list[float]]:
    """Fit one MLPClassifier per λ; returns wall time and test accuracies."""
    X_train, X_test = split.X_train.astype(dtype), split.X_test.astype(dtype)
    accs = []
    t = time.perf_counter()
    for lam in lambdas:
        clf = MLPClassifier(hidden_layer_sizes=w.hidden, activation="relu", solver="sgd",
                            alpha=sklearn_alpha(lam, "classification", len(X_train), w.batch),
                            batch_size=w.batch, learning_rate="constant",
                            learning_rate_init=w.lr, momentum=0.0, nesterovs_momentum=False,
                            max_iter=w.epochs, tol=0.0, n_iter_no_change=10**9, early_stopping=False,
                            shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_train, split.y_train)
        accs.append(float(clf.score(X_test, split.y_test)))
    return time.perf_counter() - t, accs


def torch_loop(w: Workload, split, lambdas, seed: int, dtype) -> tuple[float, list[float]] | None:
    try:
        import torch
    except ImportError:
        return None
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    X = torch.tensor(split.X_train, dtype=tdtype)
    y = torch.tensor(np.searchsorted(split.classes, split.y_train))
    Xt = torch.tensor(split.X_test, dtype=tdtype)
    yt = torch.tensor(np.searchsorted(split.classes, split.y_test))
    sizes = (X.shape[1], *w.hidden, len(split.classes))
    accs = []
    t = time.perf_counter()
    for lam in lambdas:
        torch.manual_seed(seed)
        layers = []
        for a, b in pairwise(sizes):
            layers += [torch.nn.Linear(a, b, dtype=tdtype), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])
        weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
        opt = torch.optim.SGD([{"params": weights, "weight_decay": 2 * lam},
                               {"params": biases, "weight_decay": 0.0}], lr=w.lr, momentum=0.0)
        loss_fn = torch.nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(seed)
        for _ in range(w.epochs):
            perm = torch.randperm(len(X), generator=gen)
            for s in range(0, len(X), w.batch):
                idx = perm[s:s + w.batch]
                opt.zero_grad(set_to_none=True)
                loss_fn(net(X[idx]), y[idx]).backward()
                opt.step()
        with torch.no_grad():
            accs.append(float((net(Xt).argmax(1) == yt).double().mean()))
    return time.perf_counter() - t, accs


def test_accuracy(result) -> list[float]:
    return result.summary["test_accuracy"].tolist()


def compare(w: Workload, peaks: dict, quick: bool) -> tuple[list[dict], list[dict]]:
    rows, acc_rows = [], []
    for dtype in ("float64", "float32"):
        npdt = np.dtype(dtype)
        t16 = min(l2cli_run(w, dtype)[0] for _ in range(2 if quick else 3))
        t1 = min(l2cli_run(w, dtype, lambdas="1e-3")[0] for _ in range(2 if quick else 3))
        _, res, exp = l2cli_run(w, dtype)
        lambdas = res.summary["lambda"].tolist()
        flops = flops_per_model(exp.layer_sizes, exp.split.X_train.shape[0], w.epochs) * len(lambdas)
        t_sk, _ = sklearn_loop(w, exp.split, lambdas, 0, npdt)
        tl = torch_loop(w, exp.split, lambdas, 0, npdt)
        one = min(l2cli_run(w, dtype, **{"sweep.workers": 1, "sweep.threads": 1})[0] for _ in range(2 if quick else 3))
        batched = {n: torch_batched(exp, lambdas, 0, npdt, n) for n in (1, CORES)}
        mem = l2cli_peak_memory(w, dtype)
        gflops = flops / t16 / 1e9
        rows.append({
            "workload": w.name, "dtype": dtype, "models": len(lambdas),
            "l2cli_s": round(t16, 3), "l2cli_1_lambda_s": round(t1, 3), "cost_16_vs_1": round(t16 / t1, 2),
            "sklearn_s": round(t_sk, 3), "speedup_vs_sklearn": round(t_sk / t16, 1),
            "torch_s": None if tl is None else round(tl[0], 3),
            "speedup_vs_torch": None if tl is None else round(tl[0] / t16, 1),
            "l2cli_1_thread_s": round(one, 3),
            "torch_batched_1_thread_s": None if batched[1] is None else round(batched[1][0], 3),
            "speedup_vs_torch_batched_1_thread": None if batched[1] is None else round(batched[1][0] / one, 2),
            "torch_batched_all_threads_s": None if batched[CORES] is None else round(batched[CORES][0], 3),
            "speedup_vs_torch_batched_all": None if batched[CORES] is None else round(batched[CORES][0] / t16, 2),
            "torch_batched_max_accuracy_difference": None if batched[1] is None else round(float(np.max(np.abs(
                np.array(batched[1][1]) - np.array(res.summary["test_accuracy"])))), 4),
            "gflops": round(gflops, 1), "peak_gflops": round(peaks[dtype], 1),
            "fraction_of_peak": round(gflops / peaks[dtype], 3),
            "peak_mem_mib": round(mem, 1),
        })
        print(rows[-1], flush=True)
        if dtype == "float64":
            acc_rows += accuracy_rows(w, exp, lambdas, None if tl is None else dict(zip(lambdas, tl[1], strict=True)))
    return rows, acc_rows


def accuracy_rows(w: Workload, exp, lambdas, torch_acc: dict | None) -> list[dict]:
    """Test accuracy over SEEDS of every λ beside scikit-learn's, for l2cli's default softmax head and,
    on a two-class task, for the one-output logistic head, which is scikit-learn's own network."""
    split, npdt = exp.split, np.dtype("float64")
    theirs = np.array([sklearn_loop(w, split, lambdas, s, npdt)[1] for s in SEEDS]).T
    n_test, n_train = split.X_test.shape[0], split.X_train.shape[0]
    heads = ["softmax"] + (["logistic"] if len(split.classes) == 2 else [])
    rows = []
    for head in heads:
        extra = {"model.loss": "logistic"} if head == "logistic" else {}
        _, res, _ = l2cli_run(w, "float64", seeds=SEEDS, **extra)
        ours = res.summary.pivot(index="lambda", columns="seed", values="test_accuracy")
        for k, lam in enumerate(lambdas):
            o, s = ours.loc[lam].to_numpy(), theirs[k]
            spread = 2 * np.sqrt(o.std(ddof=1) ** 2 + s.std(ddof=1) ** 2) + 1 / n_test
            rows.append({"workload": w.name, "head": head, "lambda": lam,
                         "l2cli_mean": round(o.mean(), 4), "l2cli_std": round(o.std(ddof=1), 4),
                         "sklearn_mean": round(s.mean(), 4), "sklearn_std": round(s.std(ddof=1), 4),
                         "sklearn_alpha": round(sklearn_alpha(lam, "classification", n_train, w.batch), 6),
                         "difference": round(o.mean() - s.mean(), 4), "allowed": round(spread, 4),
                         "equivalent": bool(abs(o.mean() - s.mean()) <= spread),
                         "torch_seed0": None if torch_acc is None or head != "softmax" else round(torch_acc[lam], 4)})
    return rows


def step_floor(w: Workload, quick: bool) -> dict:
    """µs per training step of one 8-model stack (what each of the two processes runs), float64: the
    whole step, and its matrix products alone (with the Wᵀ copies they use), interleaved in one run."""
    from l2cli.maths.network import Workspace, init_params
    from l2cli.maths.objective import data_grad
    from l2cli.optim import make_optimizer
    from l2cli.training.train import init_rng

    exp = prepare(resolve(flags={**w.flags, "sweep.seeds": [0]}))
    M, B = 8, w.batch
    p = init_params(exp.layer_sizes, [init_rng(m) for m in range(M)], exp.init, np.float64)
    X, Y = exp.split.X_train[:B], exp.split.Y_train[:B]
    ws = Workspace.create(exp.layer_sizes, M, B, np.float64)
    opt = make_optimizer("sgd", w.lr, np.logspace(-5, 0, M), False, "l2")
    L = len(p.W)

    def step():
        dW, db = data_grad(p, X, Y, exp.spec, len(exp.split.X_train), ws, opt.grad_scale)
        opt.step(p, dW, db)

    def products():
        A = [X]
        for l in range(L):
            A.append(np.matmul(A[-1], p.W[l], out=ws.Z[l]))
        for l in range(L, 0, -1):
            np.matmul(np.swapaxes(A[l - 1], -1, -2), ws.dZ[l - 1], out=ws.dW[l - 1])
            if l > 1:
                W_T = np.swapaxes(p.W[l - 1], -1, -2)
                if ws.WT[l - 1] is not None:  # the copy backward makes (see network.COPY_TRANSPOSE_MAX)
                    W_T = ws.WT[l - 1]
                    np.copyto(W_T, np.swapaxes(p.W[l - 1], -1, -2))
                np.matmul(ws.dZ[l - 1], W_T, out=ws.dZ[l - 2])

    best = {"step": np.inf, "products": np.inf}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(3 if quick else 15):
            for name, fn in (("step", step), ("products", products)):
                t = time.perf_counter()
                for _ in range(50 if quick else 300):
                    fn()
                best[name] = min(best[name], (time.perf_counter() - t) / (50 if quick else 300))
    return {"workload": w.name, "models": M, "batch": B, "step_us": round(best["step"] * 1e6, 1),
            "products_us": round(best["products"] * 1e6, 1),
            "products_share": round(best["products"] / best["step"], 3)}


def scaling(quick: bool) -> list[dict]:
    """Time of the W1 network (50 epochs) against #λ, training rows and width."""
    epochs = 5 if quick else 50
    base = workloads(quick)[0]
    base.flags = {**base.flags, "train.epochs": epochs}
    rows = []
    for n in (1, 2, 4, 8, 16, 32, 64):
        t, _, _ = l2cli_run(base, "float64", lambdas=f"logspace(-5,0,{n})")
        rows.append({"axis": "lambdas", "value": n, "seconds": round(t, 3)})
    for n in (250, 500, 1000, 2000, 4000):
        t, _, _ = l2cli_run(base, "float64", **{"data.n_samples": 2 * n})
        rows.append({"axis": "train_rows", "value": n, "seconds": round(t, 3)})
    for h in (16, 32, 64, 128, 256):
        t, _, _ = l2cli_run(base, "float64", **{"model.hidden": [h, h]})
        rows.append({"axis": "width", "value": h, "seconds": round(t, 3)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few epochs: checks the script, not the machine")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"cores={CORES} blas={[(b['internal_api'], b['version'], b.get('architecture')) for b in blas]}", flush=True)
    peaks = {"float64": gemm_peak(np.float64), "float32": gemm_peak(np.float32)}
    print(f"GEMM peak: {peaks['float64']:.1f} GFLOP/s float64, {peaks['float32']:.1f} GFLOP/s float32", flush=True)
    rows, acc, steps = [], [], []
    for w in workloads(args.quick):
        r, a = compare(w, peaks, args.quick)
        rows += r
        acc += a
        steps.append(step_floor(w, args.quick))
    suffix = "-quick" if args.quick else ""
    pd.DataFrame(rows).to_csv(OUT / f"speed{suffix}.csv", index=False)
    pd.DataFrame(acc).to_csv(OUT / f"accuracy{suffix}.csv", index=False)
    pd.DataFrame(steps).to_csv(OUT / f"step{suffix}.csv", index=False)
    for table in (rows, acc, steps):
        print(pd.DataFrame(table).to_markdown(index=False))
    if not args.skip_scaling:
        sc = pd.DataFrame(scaling(args.quick))
        sc.to_csv(OUT / f"scaling{suffix}.csv", index=False)
        print(sc.to_markdown(index=False))


if __name__ == "__main__":
    main()
