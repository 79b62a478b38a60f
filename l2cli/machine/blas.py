"""The BLAS thread count of this process tree, through threadpoolctl."""

from __future__ import annotations

import functools


@functools.cache
def _controller():
    """This process's threadpoolctl controller, built once: building one scans the loaded libraries.

    scipy's own BLAS (scipy.linalg) is loaded first, so the controller sees, and limits, every BLAS a run
    may use, whatever was imported before: the same list in every process (manifest.json records it).
    """
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads(n: int):
    """Context manager: the BLAS libraries use n threads inside it (and so do processes forked inside it)."""
    return _controller().limit(limits=n, user_api="blas")


def blas_info() -> list[dict]:
    """The BLAS libraries of this process, with their current thread counts, in a fixed order (threadpoolctl
    lists them by load address, which address-space randomization changes from one process to the next)."""
    keys = ("internal_api", "version", "num_threads", "architecture")
    found = [{k: i.get(k) for k in keys} for i in _controller().info() if i.get("user_api") == "blas"]
    return sorted(found, key=lambda lib: [str(lib[k]) for k in keys])
