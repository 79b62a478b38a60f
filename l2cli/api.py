"""The Python API for notebooks and scripts: ``l2cli.sweep(...)`` returns a run, writing nothing unless asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import Config, all_keys, resolve, suggest
from .errors import InputError


def key_names() -> dict[str, str]:
    """Each config key's own name (``epochs``) -> its full name (``train.epochs``); the names are unique."""
    return {dotted.partition(".")[2]: dotted for dotted in all_keys()}


def full_key(name: str) -> str:
    """'epochs' or 'train.epochs' -> 'train.epochs'; an unknown name is an InputError with the closest one."""
    names = key_names()
    if name in names.values():
        return name
    if name not in names:
        raise InputError(f"unknown config key {name!r}{suggest(name, names)}")
    return names[name]


def sweep(config: str | Path | Config | None = None, *, out: str | Path | None = None,
          grid: dict[str, list] | None = None, progress: Callable[[int], None] | None = None, **keys: Any):
    """Train a sweep and return its :class:`~l2cli.rundir.run.Run`: ``summary``, ``aggregate``, ``history``
    (pandas), ``selection`` and ``manifest`` (dicts), ``weights`` (numpy arrays, as in weights.npz).

    config: a TOML file or a Config (default: the built-in default experiment).
    keys: config keys by their own names, as in the config file (``epochs=500``,
    ``lambdas="0,logspace(-4,0,5)"``, ``hidden=[32]``); values are checked as
    ``--set`` values are. grid: extra sweep axes, ``{"hidden": [[8], [64, 64]]}``.
    out: write the run directory there; default: the config's ``output.dir`` (``dir`` in its [output]
    section), as the command line does. Nothing is written when neither is given.

        >>> run = l2cli.sweep(dataset="moons", lambdas="0,logspace(-4,0,5)", epochs=500)
        >>> run.aggregate[["lambda", "test_loss_mean", "weight_norm_mean"]]
    """
    from .sweeps.runner import run_experiment

    values = {full_key(name): value for name, value in keys.items()}
    cfg = config.replace(values) if isinstance(config, Config) else resolve(config, flags=values)
    if grid:
        cfg = Config(**{s: getattr(cfg, s) for s in ("data", "model", "train", "sweep", "output")},
                     grid={**cfg.grid, **{full_key(k): v for k, v in grid.items()}})
    return run_experiment(cfg, out=out if out is not None else (cfg.output.dir or None), argv=["l2cli.sweep"],
                          progress=progress)
