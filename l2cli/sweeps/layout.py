"""How a sweep's points are laid out on this machine: chunk size, worker processes, BLAS threads.

``exp`` below is an :class:`l2cli.sweeps.experiment.Experiment` (its split, schedule and layer sizes).

None of it changes a number: chunks and processes only decide which models
train together and where.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import pairwise

from ..errors import InputError
from ..machine.cores import usable_cores
from ..machine.memory import check_fits
from ..maths.network import EVAL_BLOCK_ELEMENTS, training_flops_per_row


def declared(key: str):
    """A field whose default is the declared default of sweep.``key`` (l2cli.config), not a second copy."""
    def default():
        from ..config import declaration, default_of

        return default_of(declaration(f"sweep.{key}"))

    return dataclasses.field(default_factory=default)


@dataclass(frozen=True)
class Compute:
    """What the user asked for (the [sweep] keys of the same names); 0 means choose. A request pinned to a
    Layout (:meth:`pinned`) chooses nothing: it is what plan.json records so that a resumed or verified run
    trains in the same chunks."""

    engine: str = declared("engine")  # or "sequential": one model at a time, the reference
    chunk_size: int = declared("chunk_size")
    memory_mb: int = declared("memory_mb")
    workers: int = declared("workers")
    threads: int = declared("threads")
    jobs: int = declared("jobs")  # the most cores (processes × BLAS threads) to use; 0: every core this process may use

    @classmethod
    def of(cls, sweep, **given) -> Compute:
        """The request of a [sweep] section (a SweepConfig, or a layout plan.json recorded), ``given`` winning."""
        get = sweep.get if isinstance(sweep, dict) else (lambda k, s=sweep: getattr(s, k, None))
        values = {f.name: given.get(f.name, get(f.name)) for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if v is not None})  # an older plan's missing key: declared

    def pinned(self, layout: Layout, workers: int | None = None) -> Compute:
        """This request with the layout's choices in place of every 0 (``workers``: at most that many)."""
        return dataclasses.replace(self, chunk_size=layout.chunk_size, threads=layout.threads,
                                   workers=layout.workers if workers is None else min(layout.workers, workers))


@dataclass(frozen=True)
class Layout:
    """What was chosen: models per chunk, processes (this one included), BLAS threads per process."""

    chunk_size: int
    workers: int
    threads: int


#: L-BFGS models gain nothing from sharing a chunk (each is minimized alone) and take from a few to thousands of
#: iterations, the smallest λ the most: their chunks are cut this many per worker, so that a worker that is done
#: takes the next one (W1, 16 λ, max_iter 2000, two workers: 12.7 s in chunks of 8, 9.7 s in chunks of 1).
LBFGS_CHUNKS_PER_WORKER = 16

#: Sweeps estimated below this many seconds on one core stay in this process (forking costs ~0.03 s;
#: measured crossover ~0.07 s).
WORKER_THRESHOLD_S = 0.1


def choose(exp, n_points: int, compute: Compute, cores: int | None = None, path_length: int = 1) -> Layout:
    """Chunks as large as the memory budget allows (or ``compute.chunk_size``), cut smaller so that
    every worker has one: small stacked products run as fast on one BLAS thread as on two, so
    separate processes are what turn a second core into speed. L-BFGS evaluates one model at a time and
    gets one BLAS thread per process: on two, OpenBLAS splits each small product and waits on it (W1 with
    L-BFGS in one process: 0.12 s on one thread, 0.59 s on two, in bench/lbfgs.py --quick).

    path_length: on a warm path (l2cli.training.warm), the points of one seed, which a chunk holds whole: chunk sizes
    are then multiples of it, and there are no more workers than paths."""
    L = max(1, path_length)
    units = max(1, n_points // L)  # points, or whole paths: what a chunk is made of
    cores = cores or usable_cores()
    if compute.jobs:
        cores = min(cores, compute.jobs)
    if compute.workers:
        workers = min(compute.workers, units, compute.jobs or compute.workers)
    else:
        workers = min(cores, units) if estimated_seconds(exp, n_points) > WORKER_THRESHOLD_S else 1
    if compute.engine == "sequential":
        size = 1
    elif compute.chunk_size > 0:
        size = min(max(1, compute.chunk_size // L), units)
    else:  # a stack holds one model per unit: a cold chunk's points, or a path chunk's current λ of each path
        size = int(max(1, min(units, compute.memory_mb * 2**20 // bytes_per_model(exp))))
        size = min(size, -(-units // workers))
        if exp.schedule.method.one_at_a_time:  # one model at a time, of very different lengths: small chunks,
            size = min(size, max(1, -(-units // (LBFGS_CHUNKS_PER_WORKER * workers))))  # handed out as workers free
    workers = min(workers, -(-units // size))  # no more processes than chunks
    threads = compute.threads or (1 if exp.schedule.method.one_at_a_time else max(1, cores // workers))
    check_chunk_memory(exp, size, workers, compute)
    return Layout(size * L, workers, threads)


def check_chunk_memory(exp, size: int, workers: int, compute: Compute) -> None:
    """A chunk's footprint (its models' parameters, optimizer state and batches: bytes_per_model) must fit
    sweep.memory_mb, and all the workers' chunks at once, with their measuring buffers (evaluation_bytes), the
    memory this process can still allocate: an InputError before any training otherwise (not an allocation
    failure half-way through)."""
    one = bytes_per_model(exp)
    chunk = size * one
    if chunk > compute.memory_mb * 2**20:
        what = f"a chunk of {size} models" if size > 1 else "one model"
        fix = "a smaller sweep.chunk_size, or " if size > 1 else ""
        raise InputError(f"{what} of {'-'.join(map(str, exp.layer_sizes))} on {len(exp.split.X_train):,} rows needs "
                         f"about {chunk / 2**20:,.0f} MiB, more than sweep.memory_mb = {compute.memory_mb:,}: "
                         f"{fix}--set sweep.memory_mb={int(chunk / 2**20) + 1}")
    check_fits(workers * (chunk + evaluation_bytes(exp)), f"{workers} worker(s) training chunks of {size} models")


def bytes_per_model(exp) -> int:
    """A generous estimate of what one more model adds to a chunk's memory: its parameters with their copies
    and optimizer state (6 ×), and a step's batch gathered for it with its activations and gradients on the
    batch (l2cli.training.train.Batches, network.Workspace). Measuring goes through buffers of a fixed size whatever the
    number of models (evaluation_bytes). The data is not counted: it is in memory already, once per sweep,
    shared by forked workers."""
    sizes = exp.layer_sizes
    n_params = sum(a * b + b for a, b in pairwise(sizes))
    n = len(exp.split.X_train)
    batch = exp.schedule.batch_rows(n) * (sizes[0] + sizes[-1] + 2 * sum(sizes[1:]))
    return exp.dtype.itemsize * (6 * n_params + batch)


def evaluation_bytes(exp) -> int:
    """What measuring a chunk takes, whatever its number of models: one block of activations per layer
    (network.eval_buffers) and a group's outputs with the loss's temporaries (4 ×, l2cli.maths.evaluate)."""
    from ..maths.evaluate import EVAL_OUTPUT_ELEMENTS

    return exp.dtype.itemsize * (EVAL_BLOCK_ELEMENTS * (len(exp.layer_sizes) - 1) + 4 * EVAL_OUTPUT_ELEMENTS)


def estimated_seconds(exp, n_models: int) -> float:
    """A rough single-core time for training n_models: per step ~40 µs of overhead plus the
    products at ~30 GFLOP/s (measured on W1/W2-like networks; only used to decide on workers)."""
    n = exp.split.X_train.shape[0]
    s = exp.schedule
    passes = s.units * (1.2 if s.method.one_at_a_time else 1.0)  # lbfgs: ~1.2 evaluations per iteration, per model
    steps = passes * -(-n // s.batch_rows(n)) * (n_models if s.method.one_at_a_time else 1)
    return steps * 40e-6 + passes * n * training_flops_per_row(exp.layer_sizes) * n_models / 30e9


