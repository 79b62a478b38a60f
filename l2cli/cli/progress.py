"""Progress of a sweep on stderr: a bar on a terminal, plain lines in a log."""

from __future__ import annotations

import sys

import click


class ProgressLines:
    """Progress for logs (stderr not a terminal): one plain line every ``every_s`` seconds, after each grid
    cell and at the end. A line says the share of the training done (in model-epochs: the models of a chunk
    train together, so they finish together), the time so far and an estimate of the time left with its
    basis, and how many trainings have finished once some have. The counts are the header's: ``models``
    (λ × seeds × cells), each trained on ``folds`` folds and refitted on all the training rows with
    cross-validation. A timer thread writes the lines, so they come on time while workers train."""

    def __init__(self, total: int, models: int, folds: int, every_s: float, stops_early: bool = False):
        import threading
        import time

        self.total, self.models, self.folds, self.every_s = max(1, total), max(1, models), folds, every_s
        self.stops_early = stops_early
        self.units = self.finished = 0
        self.said = ""  # the last line written
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)

    @property
    def trainings(self) -> int:
        return self.models * (1 + self.folds)

    def __call__(self, n: int) -> None:
        self.units += n

    def chunk_done(self, summary) -> None:
        self.finished += len(summary)

    def cell_done(self, values: dict) -> None:
        self.say(f"grid cell {', '.join(f'{k}={v}' for k, v in values.items())} done; {self.line()}")

    def say(self, text: str) -> None:
        self.said = text
        click.echo(f"l2cli: {text}", err=True)

    def line(self) -> str:
        import time

        elapsed = time.monotonic() - self.started
        share = min(1.0, self.units / self.total)
        parts = [f"training {share:.0%} done (model-epochs)", f"{_duration(elapsed)} elapsed"]
        if 0 < share < 1:
            basis = ("if every model runs its whole budget: models that stop early take less" if self.stops_early
                     else "at the rate so far")
            parts.append(f"about {_duration(elapsed * (1 - share) / share)} left {basis}")
        if self.finished:
            what = "trainings" if self.folds else "models"
            parts.append(f"{min(self.finished, self.trainings):,} of {self.trainings:,} {what} finished")
        return ", ".join(parts)

    def _tick(self) -> None:
        while not self.stop.wait(self.every_s):
            self.say(self.line())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, kind, *exc):
        self.stop.set()
        self.thread.join()
        if kind is None and self.said:  # a run long enough to have a line: its last one says the training is done
            self.units, self.finished = self.total, max(self.finished, self.trainings)
            if "training 100% done" not in self.said:
                self.say(self.line())


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
