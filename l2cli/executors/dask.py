"""Chunks on a Dask cluster: the same unit of work as the local executors, scheduled by Dask.

The experiment goes to the cluster once (``scatter``, then from worker to worker as needed); each task trains one
chunk on the BLAS threads of the layout, for at most ``checkpoint_s`` seconds:
then it returns the chunk's exact training state (l2cli.training.checkpoint.Segment),
which the driver writes as the chunk's checkpoint before submitting the rest.
So only the driver writes the run directory, and progress, checkpoints and
--resume work as with the local executor. A task is pure: when a worker is
lost, Dask runs its task again elsewhere, to the same numbers. If the scheduler
goes away, the sweep stops; what finished stays resumable.

Without an address, a LocalCluster of one single-threaded worker process per
core is started, and closed when the run ends. Needs ``pip install 'l2cli[dask]'``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InputError, RunFailure
from ..machine.cores import usable_cores
from ..training.checkpoint import Paused, Segment
from .chunk import ChunkResult, Job, train_chunk

#: Seconds to wait for the experiment to reach a worker before trying again.
SCATTER_TIMEOUT_S = 30
_blas_set: list[int] = []  # in a worker process: the BLAS thread count already set there


class ClusterLost(RunFailure):
    """The Dask scheduler went away during a sweep (a run failure: one line, exit 1, the work kept)."""


def _train_segment(exp, points, state, every_s: float, threads: int):
    """A Dask task: train a chunk from ``state`` for at most ``every_s`` seconds, in the worker.

    Returns ("done", ChunkResult) or ("paused", state)."""
    if _blas_set != [threads]:  # once per worker: OpenBLAS restarts its threads whenever the count changes
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        _blas_set[:] = [threads]
    try:
        return "done", train_chunk(exp, points, None, Segment(state, every_s))
    except Paused as pause:
        return "paused", pause.state


def connect(address: str, local_workers: int = 0):
    """A Dask client: to the scheduler at ``address``, or to a new LocalCluster of ``local_workers`` processes
    (0: one per core this process may use, l2cli.machine.cores.usable_cores)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--executor dask needs Dask: pip install 'l2cli[dask]'") from None
    quiet_logs()
    if address:
        return connect_bounded(Client, address)
    cores = usable_cores()
    cluster = LocalCluster(n_workers=min(local_workers or cores, cores), threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster)


def quiet_logs() -> None:
    """Dask's own log lines (and the tracebacks it logs when a scheduler or worker goes away) stay off stderr:
    l2cli says in one line what happened and what was kept."""
    import logging

    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "tornado", "asyncio")]
    for name in {"distributed", "tornado", "asyncio", *names}:  # Dask gives some of its loggers their own level
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


#: Seconds to wait for a scheduler to answer: a port where something else listens (an HTTP server) accepts
#: the connection and never completes Dask's handshake.
CONNECT_TIMEOUT_S = 15.0


def connect_bounded(client_class, address: str, timeout_s: float | None = None):
    """A client connected to ``address`` within ``timeout_s`` seconds, or an InputError: the connection is made
    in a daemon thread that is left behind if it never completes."""
    import threading

    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    outcome: dict = {}

    def attempt():
        try:
            outcome["client"] = client_class(address, timeout=f"{timeout_s:g}s")
        except Exception as exc:  # noqa: BLE001 - whatever the connection raises is reported below
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, daemon=True, name="l2cli-dask-connect")
    thread.start()
    thread.join(timeout_s + 5)
    if "client" in outcome:
        return outcome["client"]
    error = outcome.get("error")
    why = (f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}" if error is not None
           else f"no answer in {timeout_s + 5:g} s: is it a Dask scheduler's port?")
    raise InputError(f"--address {address}: no Dask scheduler answers there ({why})")


def check_kernels(client, wanted: dict[str, str]) -> None:
    """Every worker must run with the kernels ``wanted`` names (a portable sweep): an InputError naming the
    variables to start the workers with otherwise, before anything trains."""
    from ..machine.environment import in_force

    found = client.run(in_force, wanted)
    wrong = sorted(worker for worker, ok in found.items() if not ok)
    if wrong:
        settings = " ".join(f"{k}='{v}'" for k, v in wanted.items())
        raise InputError(f"sweep.portable: {len(wrong)} of {len(found)} Dask workers run other kernels (such as "
                         f"{wrong[0]}): start them with {settings}")


def close(client) -> None:
    """Close the client, and the LocalCluster it started."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def worker_count(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


class DaskExecutor:
    """Train jobs as Dask tasks, in segments of at most ``every_s`` seconds; ``threads``: BLAS threads per task.

    The driver holds each chunk's last state: a task lost with its worker, or with the experiment's data on
    that worker, is submitted again from there (the data scattered again). If the scheduler is gone, or a
    chunk is lost ``retries`` times, the run stops with ClusterLost."""

    def __init__(self, client, threads: int, every_s: float, retries: int = 3):
        self.client, self.threads, self.every_s, self.retries = client, threads, every_s, retries
        self.fixed_workers = worker_count(client)  # chunks are cut for the cluster's workers

    def sized(self, workers: int) -> DaskExecutor:
        """The cluster schedules its own workers: the same executor for any layout."""
        return self

    def run(self, exp, jobs: list[Job], progress: Callable[[int], None] | None = None,
            done: Callable[[int, ChunkResult], None] | None = None) -> list[ChunkResult]:
        self.exp, self.data, self.kept = exp, self._scatter(exp), []
        states = [self._saved(job) for job in jobs]
        lost = [0] * len(jobs)
        pending = {self._submit(job, states[i]): i for i, job in enumerate(jobs)}
        results: list[ChunkResult | None] = [None] * len(jobs)
        while pending:
            for future in self._finished(pending):
                i = pending.pop(future)
                outcome = self._outcome(future, lost, i)
                if outcome is None:  # lost: again from its last state
                    pending[self._submit(jobs[i], states[i])] = i
                elif outcome[0] == "paused":  # the driver keeps the state, then the chunk goes on
                    states[i] = outcome[1]
                    if jobs[i].checkpoint is not None:
                        jobs[i].checkpoint.write(outcome[1])
                    pending[self._submit(jobs[i], states[i])] = i
                else:
                    results[i] = outcome[1]
                    if done:
                        done(i, outcome[1])
                    if progress:
                        progress(len(jobs[i].points) * exp.schedule.units)
        return results  # type: ignore[return-value]

    def _finished(self, pending: dict) -> list:
        """The futures that finished within a second; ClusterLost when the scheduler is gone."""
        from distributed import wait
        from distributed.client import FuturesCancelledError

        try:
            finished, _ = wait(list(pending), timeout=1.0, return_when="FIRST_COMPLETED")
        except (TimeoutError, FuturesCancelledError):
            finished = set()
        # wait() never returns a lost future (its result was on a worker that died, and a task whose input
        # went with it is not recomputed): the driver looks for those itself; _outcome sorts them out
        finished |= {f for f in pending if f.status in ("lost", "cancelled", "error", "finished")}
        if not finished and self.client.status not in ("running", "connecting", "newly-created"):
            raise ClusterLost(f"the Dask scheduler went away (the client is {self.client.status})")
        return list(finished)

    def _outcome(self, future, lost: list[int], i: int):
        """("done", result) or ("paused", state); None when the task was lost and is to be submitted again."""
        from distributed.client import FutureCancelledError

        try:
            if future.status in ("lost", "cancelled"):
                raise FutureCancelledError(future.key, future.status)
            return future.result()
        except (FutureCancelledError, OSError) as exc:
            if self.client.status != "running":
                raise ClusterLost(f"the Dask scheduler went away ({type(exc).__name__}: {exc})") from exc
            lost[i] += 1
            if lost[i] > self.retries:
                raise ClusterLost(f"a chunk was lost {lost[i]} times on the cluster ({exc})") from exc
            self.kept.append(self.data)  # its input may have gone with the worker: send it again
            self.data = self._scatter(self.exp)
            return None

    def _scatter(self, exp):
        """The experiment on one worker (the others fetch it once, as their tasks need it). Not broadcast:
        a broadcast waits for every worker, forever if one dies meanwhile."""
        for attempt in range(self.retries + 1):
            try:
                return self.client.scatter(exp, hash=False, timeout=SCATTER_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                if self.client.status != "running" or attempt == self.retries:
                    raise ClusterLost(f"the Dask scheduler went away ({type(exc).__name__}: {exc})") from exc

    def _submit(self, job: Job, state):
        return self.client.submit(_train_segment, self.data, job.points, state, self.every_s, self.threads,
                                  pure=False)

    @staticmethod
    def _saved(job: Job):
        """The chunk's checkpoint, its state dict to send to a worker (None: start from the beginning)."""
        return None if job.checkpoint is None else job.checkpoint.read()
