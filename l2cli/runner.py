"""One experiment from config to run directory: the library entry point behind ``l2cli sweep``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import Config
from .conventions import equivalents
from .results import default_run_dir, now, versions, write_run, check_run_dir
from .sweep import Experiment, SweepResult, blas_info, plan, prepare, run_sweep


@dataclass
class Run:
    path: Path
    result: SweepResult
    manifest: dict
    seconds: float

    @property
    def failed(self) -> bool:
        """True when any model diverged (its numbers are NaN/inf in the tables)."""
        return bool((self.result.summary["status"] == "diverged").any())


def manifest(exp: Experiment, result: SweepResult, argv: list[str], started: str, seconds: float) -> dict:
    cfg, s = exp.config, exp.split
    B = s.X_train.shape[0] if cfg.train.optimizer == "gd" or cfg.train.batch_size == 0 else cfg.train.batch_size
    return {
        "l2cli_manifest": 1,
        "command": argv,
        "config": cfg.to_dict(),
        "started": started,
        "finished": now(),
        "seconds": round(seconds, 3),
        "versions": versions(),
        "data": {
            "name": cfg.data.path or cfg.data.dataset,
            "task": s.task,
            "n_train": int(s.X_train.shape[0]),
            "n_val": 0 if s.X_val is None else int(s.X_val.shape[0]),
            "n_test": int(s.X_test.shape[0]),
            "n_features": s.n_features,
            "classes": None if s.classes is None else s.classes.tolist(),
            "target_mean": s.target_mean,
            "target_scale": s.target_scale,
            "fingerprint_sha256": s.fingerprint(),
        },
        "network": {"layer_sizes": list(exp.layer_sizes), "init": exp.init, "loss": exp.spec.loss},
        "lambda_equivalents": [equivalents(lam, s.task, exp.spec.reduction, int(s.X_train.shape[0]), B)
                               for lam in cfg.sweep.lambdas],
        "compute": {"engine": cfg.sweep.engine, "chunk_size": result.chunk_size, "workers": result.workers,
                    "blas_threads_per_worker": result.threads, "blas": blas_info(), "dtype": cfg.train.dtype},
        "status_counts": result.summary["status"].value_counts().to_dict(),
    }


def run_experiment(cfg: Config, out: str | Path | None = None, argv: list[str] | None = None,
                   progress: Callable[[int], None] | None = None,
                   log: Callable[[str], None] | None = None) -> Run:
    """Prepare the data, train every (λ, seed) point, and write the run directory.

    ``log`` receives one line describing the sweep once the data is loaded.
    """
    path = check_run_dir(out or cfg.output.dir or default_run_dir(cfg.data.dataset if not cfg.data.path
                                                                 else Path(cfg.data.path).stem))
    started, t0 = now(), time.perf_counter()
    exp = prepare(cfg)
    points = plan(cfg)
    if log:
        s = exp.split
        rows = f"{len(s.X_train)} train / {len(s.X_test)} test" + (f" / {len(s.X_val)} val" if s.X_val is not None else "")
        log(f"l2cli: {len(points)} models ({len(cfg.sweep.lambdas)} λ × {len(cfg.sweep.seeds)} seeds), "
            f"{'-'.join(map(str, exp.layer_sizes))} {cfg.model.activation}, {cfg.train.optimizer}, "
            f"{cfg.train.epochs} epochs, {cfg.data.path or cfg.data.dataset} ({rows} rows)")
    result = run_sweep(exp, points, progress)
    seconds = time.perf_counter() - t0
    info = manifest(exp, result, argv or [], started, seconds)
    write_run(path, result, info, weights=cfg.output.weights)
    return Run(path, result, info, seconds)
