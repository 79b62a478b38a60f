"""Progress of a sweep on stderr: a bar on a terminal, plain lines in a log."""

from __future__ import annotations

import math
import sys

import click


class ProgressLines:
    """Progress for logs (stderr not a terminal): one plain line every ``every_s`` seconds and after each grid
    cell: models done of the total, the share of the work, the time so far and left, the best validation
    loss so far. A timer thread writes the lines, so they come on time while workers train."""

    def __init__(self, total: int, units_per_model: int, every_s: float):
        import threading
        import time

        self.total, self.per_model, self.every_s = max(1, total), max(1, units_per_model), every_s
        self.units = self.models = 0
        self.best = math.inf
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)

    def __call__(self, n: int) -> None:
        self.units += n

    def chunk_done(self, summary) -> None:
        self.models += len(summary)
        if "val_loss" in summary:
            finite = summary["val_loss"][summary["status"] != "diverged"].dropna()
            if len(finite):
                self.best = min(self.best, float(finite.min()))

    def cell_done(self, values: dict) -> None:
        click.echo(f"l2cli: grid cell {', '.join(f'{k}={v}' for k, v in values.items())} done; {self.line()}",
                   err=True)

    def line(self) -> str:
        import time

        elapsed = time.monotonic() - self.started
        share = min(1.0, self.units / self.total)
        left = f", about {_duration(elapsed * (1 - share) / share)} left" if 0 < share < 1 else ""
        best = f", best validation loss so far {self.best:.4g}" if math.isfinite(self.best) else ""
        return (f"{self.models:,} of {self.total // self.per_model:,} models done ({share:.0%} of the training), "
                f"{_duration(elapsed)} elapsed{left}{best}")

    def _tick(self) -> None:
        while not self.stop.wait(self.every_s):
            click.echo(f"l2cli: {self.line()}", err=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _duration(seconds: float) -> str:
    """'45s', '3m05s', '2h07m'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressBar:
    """click's progress bar on stderr, opened at the first progress, so that lines said before training
    (the description of the sweep) stand on their own lines above it."""

    def __init__(self, total: int, show: bool):
        self.total, self.show, self.bar = total, show, None

    def __call__(self, n: int) -> None:
        if self.show and self.bar is None:
            self.bar = click.progressbar(length=self.total, label="training", file=sys.stderr).__enter__()
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
