"""How a sweep's points are laid out on this machine: chunk size, worker processes, BLAS threads.

``exp`` below is an :class:`l2cli.experiment.Experiment` (its split, schedule and layer sizes).

None of it changes a number: chunks and processes only decide which models
train together and where.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from itertools import pairwise

from .errors import InputError
from .network import EVAL_BLOCK_ELEMENTS, training_flops_per_row


@dataclass(frozen=True)
class Compute:
    """What the user asked for (the [sweep] keys of the same names); 0 means choose. A request pinned to a
    Layout (:meth:`pinned`) chooses nothing: it is what plan.json records so that a resumed or verified run
    trains in the same chunks."""

    engine: str = "stacked"  # or "sequential": one model at a time, the reference
    chunk_size: int = 0
    memory_mb: int = 2048
    workers: int = 0
    threads: int = 0
    executor: str = "local"  # or "dask": workers are then the cluster's worker processes
    jobs: int = 0  # the most cores (processes × BLAS threads) to use; 0: every core this process may use

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

    path_length: on a warm path (l2cli.path), the points of one seed, which a chunk holds whole: chunk sizes
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
        if exp.schedule.minimizes:  # one model at a time, of very different lengths: small chunks,
            size = min(size, max(1, -(-units // (LBFGS_CHUNKS_PER_WORKER * workers))))  # handed out as workers free
    workers = min(workers, -(-units // size))  # no more processes than chunks
    threads = compute.threads or (1 if exp.schedule.minimizes else max(1, cores // workers))
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


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity mask (taskset, a batch scheduler's cpuset), capped by
    the cgroup CPU quota (a container's --cpus), rounded down and at least 1. os.cpu_count() counts the
    machine's cores, which two sweeps side by side or a container would oversubscribe."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, int(quota)))
    return max(1, n)


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota (cores' worth) of this process's cgroup or of one above it, or None when unlimited:
    cgroup v2's cpu.max ("150000 100000" is 1.5 cores) or v1's cpu.cfs_quota_us / cpu.cfs_period_us."""
    quotas = []
    for parts in cgroup_levels():
        quotas += [q for q in (_cpu_max(os.path.join(root, *parts, "cpu.max")),  # v2
                               _cfs(os.path.join(root, "cpu", *parts)))  # v1
                   if q is not None]
    return min(quotas) if quotas else None


def cgroup_levels() -> list[tuple[str, ...]]:
    """The path components of this process's cgroups (/proc/self/cgroup) and of every cgroup above them, the
    root included: a limit set on any of them holds."""
    try:
        with open("/proc/self/cgroup") as fh:
            paths = [line.strip().split(":", 2)[2] for line in fh if line.count(":") >= 2]
    except OSError:
        paths = []
    levels = set()
    for rel in {*paths, "/"}:
        parts = tuple(part for part in rel.split("/") if part)
        levels.update(parts[:depth] for depth in range(len(parts) + 1))
    return sorted(levels)


def _cpu_max(path: str) -> float | None:
    try:
        with open(path) as fh:
            quota, period = fh.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _cfs(directory: str) -> float | None:
    try:
        with open(os.path.join(directory, "cpu.cfs_quota_us")) as q, \
                open(os.path.join(directory, "cpu.cfs_period_us")) as p:
            quota, period = int(q.read()), int(p.read())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 else quota / period


def bytes_per_model(exp) -> int:
    """A generous estimate of what one more model adds to a chunk's memory: its parameters with their copies
    and optimizer state (6 ×), and a step's batch gathered for it with its activations and gradients on the
    batch (l2cli.train.Batches, network.Workspace). Measuring goes through buffers of a fixed size whatever the
    number of models (evaluation_bytes). The data is not counted: it is in memory already, once per sweep,
    shared by forked workers."""
    sizes = exp.layer_sizes
    n_params = sum(a * b + b for a, b in pairwise(sizes))
    n = len(exp.split.X_train)
    batch = exp.schedule.batch_rows(n) * (sizes[0] + sizes[-1] + 2 * sum(sizes[1:]))
    return exp.dtype.itemsize * (6 * n_params + batch)


def evaluation_bytes(exp) -> int:
    """What measuring a chunk takes, whatever its number of models: one block of activations per layer
    (network.eval_buffers) and a group's outputs with the loss's temporaries (4 ×, l2cli.evaluate)."""
    from .evaluate import EVAL_OUTPUT_ELEMENTS

    return exp.dtype.itemsize * (EVAL_BLOCK_ELEMENTS * (len(exp.layer_sizes) - 1) + 4 * EVAL_OUTPUT_ELEMENTS)


def estimated_seconds(exp, n_models: int) -> float:
    """A rough single-core time for training n_models: per step ~40 µs of overhead plus the
    products at ~30 GFLOP/s (measured on W1/W2-like networks; only used to decide on workers)."""
    n = exp.split.X_train.shape[0]
    s = exp.schedule
    passes = s.units * (1.2 if s.minimizes else 1.0)  # lbfgs: ~1.2 evaluations per iteration, per model
    steps = passes * -(-n // s.batch_rows(n)) * (n_models if s.minimizes else 1)
    return steps * 40e-6 + passes * n * training_flops_per_row(exp.layer_sizes) * n_models / 30e9


def available_memory() -> int:
    """Bytes this process can still allocate: the least of the machine's MemAvailable (no swapping), the
    room left under the cgroup memory limit (a container's --memory) and under the address-space limit
    (ulimit -v, RLIMIT_AS)."""
    room = [mem_available(), cgroup_memory_room(), address_space_room()]
    return min(r for r in room if r is not None)


def release_free_memory() -> None:
    """Give the memory this process has freed back to the system (glibc's malloc_trim; nothing elsewhere), as
    Dask's workers do. A table parsed column by column leaves its freed memory in pieces too small for the next
    large array, which would then take new memory beside them: trimmed, the process's peak is what it uses."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # the symbols this process has loaded: glibc's among them
        ctypes.CDLL(None).malloc_trim(0)


def mem_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def cgroup_memory_room(root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes left under this process's cgroup memory limit (or one above it), or None when unlimited: cgroup
    v2's memory.max − memory.current, or v1's memory.limit_in_bytes − memory.usage_in_bytes."""
    rooms = []
    for parts in cgroup_levels():
        for base, limit, used in ((os.path.join(root, *parts), "memory.max", "memory.current"),
                                  (os.path.join(root, "memory", *parts), "memory.limit_in_bytes",
                                   "memory.usage_in_bytes")):
            cap, now = _read_int(os.path.join(base, limit)), _read_int(os.path.join(base, used))
            if cap is not None and cap < 2**60:  # v1 writes a huge number for "unlimited"
                rooms.append(max(0, cap - (now or 0)))
    return min(rooms) if rooms else None


def address_space_room() -> int | None:
    """Bytes left under the address-space limit (RLIMIT_AS, ``ulimit -v``): the limit less this process's
    virtual size, or None when unlimited."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as fh:
            size = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        size = 0
    return max(0, soft - size)


def check_fits(need: int, what: str) -> None:
    """An InputError, with the estimate and the budget, when ``need`` bytes exceed the available memory."""
    have = available_memory()
    if need > have:
        raise InputError(f"{what} needs about {need / 2**30:,.1f} GiB of memory, and {have / 2**30:,.1f} GiB "
                         "is available: make it smaller")
