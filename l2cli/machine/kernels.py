"""Running a command under chosen BLAS kernels and numpy dispatch: the portable ones (sweep --portable) or a
run's recorded ones (verify). Both are read when numpy loads, so they are set in this process's environment
before it does, or else the same command runs again in a child process that has them."""

from __future__ import annotations

import os
import subprocess
import sys

from .environment import cpu, in_force, lacking, numpy_loaded, pins


def with_kernels(wanted: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess | None:
    """Make the command ``argv`` (``l2cli …``, as typed) run with the variables ``wanted``: before numpy loads,
    they are set here (worker processes inherit them) and None says to go on; once numpy has loaded with
    other kernels, the same command runs in a child process that has them, and its finished process (output
    captured, for the caller to pass on with its exit code) is returned."""
    if not numpy_loaded():
        os.environ.update(wanted)
        return None
    if in_force(wanted):
        return None
    return subprocess.run([sys.executable, "-m", "l2cli", *argv[1:]], env={**os.environ, **wanted},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def replay_pins(recorded: dict) -> tuple[dict[str, str], str | None]:
    """The variables that re-create a recorded environment on this machine (l2cli.machine.environment.pins),
    less a kernel this CPU cannot run, and the note that says so (None when everything can be re-created)."""
    wanted = pins(recorded)
    kernel = wanted.get("OPENBLAS_CORETYPE")
    missing = lacking(kernel, cpu()["vector_extensions"]) if kernel else []
    if not missing:
        return wanted, None
    wanted.pop("OPENBLAS_CORETYPE")
    return wanted, (f"this CPU lacks what the recorded OpenBLAS {kernel} kernel needs ({', '.join(missing)}): "
                    "replaying on this machine's own; if the numbers differ, --level numbers or --level conclusions")
