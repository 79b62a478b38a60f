"""manifest.json: what a run was (config, command, versions, data, network, compute) and λ in other libraries."""

from __future__ import annotations

import dataclasses
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from ..config import Config
from ..machine import environment
from ..maths.conventions import equivalents

#: distribution name -> module name whose __version__ to read (None: click deprecates its __version__)
PACKAGES = {"l2cli": "l2cli", "numpy": "numpy", "scikit-learn": "sklearn", "scipy": "scipy", "pandas": "pandas",
            "click": None, "tabulate": "tabulate", "threadpoolctl": "threadpoolctl"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Python's and each package's version: from the loaded module when it has one (a metadata lookup
    costs ~1.5 ms a package), else from the installed distribution."""
    out = {"python": platform.python_version()}
    for dist, module in PACKAGES.items():
        loaded = getattr(sys.modules.get(module), "__version__", None) if module else None
        try:
            out[dist] = str(loaded) if loaded else metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def lambda_equivalents(cfg: Config, exp) -> list[dict]:
    """Each λ of the sweep in other libraries' terms, for this experiment's training rows and batches."""
    n = int(exp.split.X_train.shape[0])
    batch = exp.schedule.batch_rows(n)
    s = exp.schedule
    return [equivalents(lam, exp.split.task, exp.spec.reduction, n, batch, s.decay, s.optimizer, s.lr)
            for lam in cfg.sweep.lambdas]


def data_section(cfg: Config, exp, fingerprint: str) -> dict:
    split = exp.split
    return {
        "name": cfg.data.path or cfg.data.dataset,
        "path_absolute": str(Path(cfg.data.path).resolve()) if cfg.data.path else None,
        "task": split.task,
        "n_train": int(split.X_train.shape[0]),
        "n_val": 0 if split.X_val is None else int(split.X_val.shape[0]),
        "n_test": int(split.X_test.shape[0]),
        "n_features": split.n_features,
        "features": list(exp.features),
        "missing_values": exp.missing or None,
        "dates": exp.reading.get("dates") or None,
        "rare_classes": exp.reading.get("rare_classes") or None,
        "classes": None if split.classes is None else split.classes.tolist(),
        "target_mean": split.target_mean,
        "target_scale": split.target_scale,
        "fingerprint_sha256": fingerprint,
    }


def peak_memory(cells: list) -> dict:
    """The memory the run took, measured: the peak resident set of this process (Linux: VmHWM, since this
    program started; elsewhere getrusage, which may include the launching process's) and of its largest
    worker process (getrusage: the pages a forked worker shares with this one, the data above all, count in
    both), beside the size of the float matrices trained on (every cell's train, validation and test parts), in
    MiB. Like ``seconds``, it differs between runs of the same config."""
    import resource

    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 1024
    try:
        with open("/proc/self/status") as fh:  # getrusage keeps the high-water mark of the process before exec
            mine = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        pass
    data = sum(p.X.nbytes + p.Y.nbytes for c in cells for p in c.experiment.split.parts())
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit / 1024
    return {"peak_rss_mib": mib(mine), "largest_worker_peak_rss_mib": mib(workers), "data_mib": round(data / 2**20, 1)}


def build(cfg: Config, cells: list, argv: list[str], started: str, seconds: float, summary,
          fingerprints: list[str]) -> dict:
    """The manifest of a run whose grid cells (cells.Cell) have trained; ``summary`` is its summary table,
    ``fingerprints`` each cell's data fingerprint (computed once, for the plan)."""
    exp, first = cells[0].experiment, cells[0].trained
    return {
        "l2cli_manifest": 1,
        "command": argv,
        "config": cfg.to_dict(),
        "started": started,
        "finished": now(),
        "seconds": round(seconds, 3),
        "memory": peak_memory(cells),
        "versions": versions(),
        "data": data_section(cfg, exp, fingerprints[0]),
        "environment": environment.record(cfg.sweep.portable),
        "network": {"layer_sizes": list(exp.layer_sizes), "init": exp.init, "loss": exp.spec.loss},
        "cells": [{"axes": c.values, "layer_sizes": list(c.experiment.layer_sizes),
                    "layout": dataclasses.asdict(c.trained.layout),
                    "n_train": int(c.experiment.split.X_train.shape[0]),
                    "fingerprint_sha256": fingerprints[k],
                    "lambda_equivalents": lambda_equivalents(cfg, c.experiment)} for k, c in enumerate(cells)],
        "lambda_equivalents": lambda_equivalents(cfg, exp),
        "compute": {"engine": cfg.sweep.engine, "executor": cfg.sweep.executor, "address": cfg.sweep.address or None,
                    "chunk_size": first.layout.chunk_size, "workers": first.layout.workers,
                    "blas_threads_per_worker": first.layout.threads, "blas": first.blas, "dtype": cfg.train.dtype,
                    "batch_rows": exp.schedule.batch_rows(int(exp.split.X_train.shape[0]))},
        "models": int(len(summary)),
        "status_counts": summary["status"].value_counts().to_dict(),
    }
