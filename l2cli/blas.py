"""The BLAS thread count of this process tree, through threadpoolctl."""

from __future__ import annotations

import functools


@functools.cache
def _controller():
    """This process's threadpoolctl controller, built once: building one scans the loaded libraries."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads(n: int):
    """Context manager: the BLAS libraries use n threads inside it (and so do processes forked inside it)."""
    return _controller().limit(limits=n, user_api="blas")


def blas_info() -> list[dict]:
    """The BLAS libraries numpy uses, with their current thread counts."""
    return [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for i in _controller().info() if i.get("user_api") == "blas"]
