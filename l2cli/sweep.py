"""A sweep: one model per (λ, seed) point, trained in stacked chunks.

Each point is an addressable unit of work: its numbers depend only on the
experiment, its λ and its seed, never on which other points share its chunk
(stacked and sequential engines agree to rounding, ~1e-12 relative). This
module does no I/O; :mod:`l2cli.results` writes what it returns.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score
from threadpoolctl import ThreadpoolController

from .activations import DEFAULT_INIT
from .config import Config
from .data import Split, load_builtin, load_csv, split_dataset
from .losses import loss_sum
from .network import Params, eval_buffers, init_params, predict, training_flops_per_row
from .objective import Spec, data_scale, layer_sq_norms, penalty
from .train import Arrays, Schedule, TrainResult, init_rng, train


@dataclass(frozen=True)
class Point:
    """One unit of work: the model with this λ and seed. ``index`` is its row in the outputs."""

    index: int
    lam: float
    seed: int


@dataclass
class Experiment:
    """Everything a point needs, resolved from a Config: data, network shape, objective, schedule."""

    config: Config
    split: Split
    spec: Spec
    schedule: Schedule
    layer_sizes: tuple[int, ...]
    init: str
    dtype: np.dtype

    @property
    def arrays(self) -> Arrays:
        s = self.split
        return Arrays(s.X_train, s.Y_train, s.X_test, s.Y_test, s.X_val, s.Y_val)


@dataclass
class SweepResult:
    """Trained models of a sweep, in point order, with their summary and history tables."""

    points: list[Point]
    params: Params
    summary: pd.DataFrame
    history: pd.DataFrame
    threads: int
    chunk_size: int
    workers: int = 1
    blas: list[dict] = field(default_factory=list)  # the BLAS libraries as the sweep ran them (blas_info)


def load_data(cfg: Config):
    d = cfg.data
    if d.path:
        return load_csv(d.path, d.target, d.task)
    ds = load_builtin(d.dataset, d.n_samples, d.noise, d.n_features, d.n_classes, d.seed)
    if d.task != "auto" and d.task != ds.task:
        ds.task = d.task
    return ds


def prepare(cfg: Config) -> Experiment:
    """Load and split the data and fix the network and objective for a config."""
    ds = load_data(cfg)
    split = split_dataset(ds, cfg.data.test_size, cfg.data.val_size, cfg.data.seed,
                          cfg.data.standardize, cfg.data.standardize_target, cfg.data.n_train)
    dtype = np.dtype(cfg.train.dtype)
    split = split.astype(dtype)
    m, t = cfg.model, cfg.train
    loss = m.loss if m.loss != "auto" else ("cross_entropy" if split.task == "classification" else "squared")
    if loss == "logistic":
        split = split.with_logistic_target()
    spec = Spec(activation=m.activation, loss=loss, reduction=m.reduction, penalize_bias=m.penalize_bias)
    schedule = Schedule(t.optimizer, t.lr, t.epochs, t.batch_size, t.momentum, t.beta1, t.beta2, t.eps,
                        t.tol, t.early_stopping, t.patience, t.history_every)
    layer_sizes = (split.n_features, *m.hidden, split.n_outputs)
    init = m.init if m.init != "auto" else DEFAULT_INIT[m.activation]
    return Experiment(cfg, split, spec, schedule, layer_sizes, init, dtype)


def plan(cfg: Config) -> list[Point]:
    """The points of a sweep, λ-major: (λ₀, s₀), (λ₀, s₁), …, (λ₁, s₀), …"""
    return [Point(i, lam, seed) for i, (lam, seed) in
            enumerate((lam, seed) for lam in cfg.sweep.lambdas for seed in cfg.sweep.seeds)]


def bytes_per_model(exp: Experiment) -> int:
    """A generous estimate of the working memory of one stacked model."""
    sizes = exp.layer_sizes
    n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    s = exp.split
    rows = max(len(X) for X in (s.X_train, s.X_test, s.X_val) if X is not None)
    activations = 3 * rows * sum(sizes)
    return exp.dtype.itemsize * (6 * n_params + activations)


def layout(exp: Experiment, n_points: int) -> tuple[int, int, int]:
    """(chunk size, worker processes, BLAS threads per process) for a sweep of n_points models.

    Chunks are as large as the memory budget allows (or ``sweep.chunk_size``)
    and are cut smaller so that every worker has one: small stacked products
    run at the same speed on one BLAS thread as on two, so separate processes
    are what turn a second core into speed. This process trains a chunk too,
    and forking the others costs about 0.03 s, so by default
    (``sweep.workers = 0``) a sweep estimated to take less than 0.1 s on one
    core stays in this process (measured: workers win from about 0.07 s).
    """
    cfg = exp.config.sweep
    cores = os.cpu_count() or 1
    if cfg.workers:
        workers = min(cfg.workers, n_points)
    else:
        workers = min(cores, n_points) if estimated_seconds(exp, n_points) > 0.1 else 1
    if cfg.engine == "sequential":
        size = 1
    elif cfg.chunk_size > 0:
        size = min(cfg.chunk_size, n_points)
    else:
        size = int(max(1, min(n_points, cfg.memory_mb * 2**20 // bytes_per_model(exp))))
        size = min(size, -(-n_points // workers))
    threads = cfg.threads or max(1, cores // workers)
    return size, workers, threads


def estimated_seconds(exp: Experiment, n_models: int) -> float:
    """A rough single-core time for training n_models: per step ~40 µs of overhead plus the
    products at ~30 GFLOP/s (measured on W1/W2-like networks; only used to decide on workers)."""
    n = exp.split.X_train.shape[0]
    s = exp.schedule
    batch = n if s.optimizer == "gd" or s.batch_size <= 0 else min(s.batch_size, n)
    steps = s.epochs * -(-n // batch)
    return steps * 40e-6 + s.epochs * n * training_flops_per_row(exp.layer_sizes) * n_models / 30e9


def train_points(exp: Experiment, points: list[Point], on_epoch: Callable[[int], None] | None = None):
    """Train the given points together as one stack; returns the TrainResult."""
    rngs = [init_rng(p.seed) for p in points]
    params = init_params(exp.layer_sizes, rngs, exp.init, exp.dtype)
    lam = np.array([p.lam for p in points])
    return train(params, lam, [p.seed for p in points], exp.arrays, exp.spec, exp.schedule, on_epoch)


@dataclass
class ChunkResult:
    """What training one chunk of points gives: the trained stack and its summary rows."""

    trained: TrainResult
    summary: pd.DataFrame


def run_chunk(exp: Experiment, points: list[Point], on_epoch: Callable[[int], None] | None = None) -> ChunkResult:
    """Train a chunk and summarize it, in whichever process runs it (on the BLAS threads set there)."""
    r = train_points(exp, points, on_epoch)
    return ChunkResult(r, summarize(exp, points, r.params, r.status, r.epochs))


def run_sweep(exp: Experiment, points: list[Point] | None = None,
              progress: Callable[[int], None] | None = None) -> SweepResult:
    """Train every point in chunks, in parallel processes when there are several, and tabulate the results.

    ``progress`` is called with the number of model-epochs done since its last
    call; a sweep has len(points) × epochs of them in all.
    """
    points = plan(exp.config) if points is None else points
    size, workers, threads = layout(exp, len(points))
    chunks = [points[i:i + size] for i in range(0, len(points), size)]
    workers = min(workers, len(chunks))
    # The thread count is set once, before any fork, and inherited by the workers. OpenBLAS stops its
    # threads at a fork and starts them again when its thread count is next set, and a new thread
    # spins for ~0.1 s of CPU: setting it in the workers would cost a core that long, in each of them.
    with blas_threads(threads):
        blas = blas_info()
        results = _run_parallel(exp, chunks, workers, progress) if workers > 1 else \
            [_run_here(exp, chunk, progress) for chunk in chunks]
    params = Params.concat([r.trained.params for r in results])
    history = pd.concat([_history_frame(c, r.trained.history) for c, r in zip(chunks, results)], ignore_index=True)
    summary = pd.concat([r.summary for r in results], ignore_index=True)
    return SweepResult(points, params, summary, history, threads, size, workers, blas)


def _run_here(exp, chunk, progress) -> ChunkResult:
    """Run a chunk in this process, reporting progress per epoch; models that stop early count as done."""
    counter = _Counter(progress) if progress else None
    result = run_chunk(exp, chunk, counter)
    if progress:
        progress(len(chunk) * exp.schedule.epochs - counter.done)
    return result


class _Counter:
    """Passes per-epoch progress on and counts it, so a chunk can be topped up at its end."""

    def __init__(self, progress):
        self.progress, self.done = progress, 0

    def __call__(self, n: int) -> None:
        self.done += n
        self.progress(n)


def _run_parallel(exp, chunks, workers, progress) -> list[ChunkResult]:
    """Train chunks on ``workers`` processes: this one and workers - 1 forked ones.

    This process takes the first chunk and then any chunk no worker has started,
    so it never waits idle while there is work, and one fork fewer is needed.
    Results come back in chunk order.
    """
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    results: list[ChunkResult | None] = [None] * len(chunks)
    with ProcessPoolExecutor(max_workers=workers - 1, mp_context=context) as pool:
        futures = {pool.submit(run_chunk, exp, chunk): k for k, chunk in enumerate(chunks) if k > 0}
        try:
            mine = [0]
            while mine:
                k = mine.pop()
                results[k] = _run_here(exp, chunks[k], progress)
                for future in reversed(list(futures)):  # take back the last chunk not yet started
                    if future.cancel():
                        mine.append(futures.pop(future))
                        break
            for future in as_completed(futures):
                k = futures[future]
                results[k] = future.result()
                if progress:
                    progress(len(chunks[k]) * exp.schedule.epochs)
        except BaseException:  # an interrupt or a failed chunk: drop the queued chunks at once
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results  # type: ignore[return-value]


def _history_frame(chunk: list[Point], hist: dict[str, np.ndarray]) -> pd.DataFrame:
    lam = np.array([p.lam for p in chunk])
    seed = np.array([p.seed for p in chunk])
    m = hist["model"]
    cols = {"lambda": lam[m], "seed": seed[m], "epoch": hist["epoch"]}
    cols.update({k: v for k, v in hist.items() if k not in ("model", "epoch")})
    return pd.DataFrame(cols)


def summarize(exp: Experiment, points: list[Point], params: Params, status: list[str],
              epochs: np.ndarray) -> pd.DataFrame:
    """One row per point: losses without the penalty, J, Ω, norms and scores.

    Each part of the data (train, val, test) goes through the network once; its
    loss and its score come from the same logits.
    """
    s, spec = exp.split, exp.spec
    lam = np.array([p.lam for p in points])
    parts = {name: (X, Y, y) for name, X, Y, y in (("train", s.X_train, s.Y_train, s.y_train),
                                                   ("test", s.X_test, s.Y_test, s.y_test),
                                                   ("val", s.X_val, s.Y_val, s.y_val)) if X is not None}
    with np.errstate(all="ignore"):  # a diverged model's numbers stay NaN/inf, without warnings
        sq = layer_sq_norms(params)
        omega = penalty(params, spec.penalize_bias)
        losses, scores = {}, {}
        buffers = eval_buffers(params, max(len(X) for X, _, _ in parts.values()))
        for name, (X, Y, y) in parts.items():
            Z = predict(params, X, spec.activation, buffers)
            losses[name] = data_scale(spec.reduction, len(X), len(X)) * loss_sum(Z, Y, spec.loss)
            scores[name] = _scores(exp, Z, y)
        objective = losses["train"] + lam * omega
        weight_norm, layer_norms = np.sqrt(sq.sum(axis=1)), np.sqrt(sq)
    cols: dict[str, object] = {
        "lambda": lam,
        "seed": [p.seed for p in points],
        "status": status,
        "epochs": epochs,
    }
    cols.update({f"{name}_loss": losses[name] for name in ("train", "test", "val") if name in losses})
    cols["objective"] = objective
    cols["penalty"] = omega
    cols["weight_norm"] = weight_norm
    for l in range(sq.shape[1]):
        cols[f"norm_W{l + 1}"] = layer_norms[:, l]
    score = "accuracy" if s.task == "classification" else "r2"
    cols.update({f"{name}_{score}": scores[name] for name in ("train", "val", "test") if name in scores})
    frame = pd.DataFrame(cols)
    float_cols = frame.select_dtypes("number").columns.difference(["seed", "epochs"])
    frame[float_cols] = frame[float_cols].astype(np.float64)
    return frame


def _scores(exp: Experiment, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy (classification) or R² on the original target scale (regression) of the logits Z
    (M, n, K) against the targets y (n,); NaN for a model whose outputs are not all finite."""
    s = exp.split
    out = np.full(Z.shape[0], np.nan)
    finite = np.isfinite(Z).all(axis=(1, 2))
    if not finite.any():
        return out
    if s.task == "classification":  # the most probable class: the largest logit, or z > 0 for one logistic output
        predicted = (Z[finite, :, 0] > 0).astype(int) if Z.shape[2] == 1 else Z[finite].argmax(axis=2)
        out[finite] = np.mean(s.classes[predicted] == y, axis=1)
    else:
        predicted = Z[finite, :, 0] * s.target_scale + s.target_mean  # (models, n)
        out[finite] = r2_score(np.broadcast_to(y[:, None], predicted.T.shape), predicted.T,
                               multioutput="raw_values")
    return out


_CONTROLLER: ThreadpoolController | None = None


def _threadpools() -> ThreadpoolController:
    """This process's threadpoolctl controller, built once: building one scans the loaded libraries."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def blas_threads(n: int):
    """Context manager: the BLAS libraries use n threads inside it."""
    return _threadpools().limit(limits=n, user_api="blas")


def blas_info() -> list[dict]:
    """The BLAS libraries numpy uses, with their thread counts (threadpoolctl)."""
    return [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for i in _threadpools().info() if i.get("user_api") == "blas"]
