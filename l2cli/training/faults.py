"""Deliberate crashes at named points, for the kill-and-resume tests; nothing happens unless asked.

``L2CLI_FAULT=NAME:K`` kills this process with SIGKILL the K-th time it reaches
the point NAME (counted per process): ``checkpoint-write`` and ``chunk-write``
(between writing a file's bytes and renaming it into place) and ``final-write``
(after the first final file of a run is in place).
"""

from __future__ import annotations

import os
import signal

_seen: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get("L2CLI_FAULT", "")
    if not wanted.startswith(f"{name}:"):
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == int(wanted.partition(":")[2] or 1):
        os.kill(os.getpid(), signal.SIGKILL)
