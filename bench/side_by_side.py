"""Two sweeps side by side against one alone, in one run (whole processes, wall clock).

    python bench/side_by_side.py            # 3 rounds of the default experiment; bench/results/side_by_side.csv
    python bench/side_by_side.py --quick    # a smoke run (few epochs; its numbers mean nothing)

Each round times, in turn: one sweep alone (its automatic layout), and with --jobs N/2; two sweeps started
together, each with
the automatic layout (each takes every core it may use, so together they oversubscribe them); and two
started together with --jobs N/2 each (N: the cores this process may use). The table gives each case's
median wall time over the rounds (for a pair: until both ended), and its ratio to one sweep alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    from l2cli.machine.environment import cpu

    return cpu()["model"]


def sweeps(scratch: Path, count: int, extra: list[str], epochs: int) -> float:
    """Start ``count`` sweeps of the default experiment at once; seconds until the last one ends."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", "-q", "--epochs", str(epochs), *extra,
                               "--out", str(scratch / f"run{k}-{time.monotonic_ns()}")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for k in range(count)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a sweep failed: {proc.stderr.read()[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from l2cli.sweeps.layout import usable_cores

    cores = usable_cores()
    half = str(max(1, cores // 2))
    epochs = 100 if args.quick else 2000
    cases = {"one sweep": (1, []), f"one sweep, --jobs {half}": (1, ["--jobs", half]),
             "two sweeps, automatic layout": (2, []),
             f"two sweeps, --jobs {half} each": (2, ["--jobs", half])}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(1 if args.quick else args.rounds):
            for name, (count, extra) in cases.items():
                times[name].append(sweeps(Path(tmp), count, extra, epochs))
    alone = statistics.median(times["one sweep"])
    table = pd.DataFrame([{"case": name, "sweeps": cases[name][0], "median_s": statistics.median(t),
                           "min_s": min(t), "ratio_to_one_sweep": statistics.median(t) / alone,
                           "rounds": len(t), "epochs": epochs, "cores": cores, "cpu": cpu_name(),
                           "date": time.strftime("%Y-%m-%d")} for name, t in times.items()])
    OUT.mkdir(exist_ok=True)
    path = OUT / ("side_by_side-quick.csv" if args.quick else "side_by_side.csv")
    table.to_csv(path, index=False)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
