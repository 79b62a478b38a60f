"""The memory this process may still use: the machine's, its cgroup's and its address space's room, and a check
that a planned allocation fits. The one place that reads /proc and the cgroup files."""

from __future__ import annotations

import os

from ..errors import InputError


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
