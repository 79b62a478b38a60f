"""The cores this process may use: the one count every layout, worker pool and cluster asks for."""

from __future__ import annotations


def usable_cores() -> int:
    """The cores this process may use: joblib's count (its CPU affinity mask, as taskset or a batch scheduler's
    cpuset sets it, capped by the cgroup CPU quota of a container's --cpus), at least 1. A fractional quota is
    rounded up, as joblib (loky) rounds it: 1.5 cores' worth counts as 2, so two processes share the quota
    rather than one process leaving half of it idle. os.cpu_count() counts the machine's cores, which two
    sweeps side by side or a container would oversubscribe."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))
