"""The cost of the portable mode (sweep.portable) on W1 and W2, against the native kernels, in one run.

    python bench/portable.py            # 5 rounds; writes bench/results/portable.csv
    python bench/portable.py --quick    # a smoke run (few epochs; its numbers mean nothing)

W1 and W2 are bench/run.py's workloads (16 λ, one seed, sgd). Each round runs every (workload, mode) once as
an `l2cli sweep` process, in turn, so a noisy machine slows all of them alike; the time is the sweep's own
(manifest.json's ``seconds``: training and tables, without the start-up). The table gives the median over
the rounds, the kernels each mode ran on, and the portable/native ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import workloads  # noqa: E402  (bench/run.py: W1, W2)

OUT = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    from l2cli.machine.environment import cpu

    return cpu()["model"]


def sweep(flags: dict, portable: bool, out: Path) -> tuple[float, dict]:
    """One sweep in a process of its own: (its seconds, its environment record)."""
    args = [f"{k}={json.dumps(v)}" for k, v in flags.items()]
    argv = [sys.executable, "-m", "l2cli", "sweep", "-q", "--format", "csv", "--out", str(out),
            *[x for a in args for x in ("--set", a)], *(["--portable"] if portable else [])]
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"a sweep failed: {proc.stderr[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return float(manifest["seconds"]), manifest["environment"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    times: dict[tuple[str, bool], list[float]] = {}
    kernels: dict[tuple[str, bool], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(1 if args.quick else args.rounds):
            for w in workloads(args.quick):
                for portable in (False, True):
                    seconds, env = sweep(w.flags, portable, Path(tmp) / f"{w.name}-{portable}-{r}")
                    times.setdefault((w.name, portable), []).append(seconds)
                    kernels[(w.name, portable)] = " ".join(sorted({b["kernel"] for b in env["blas"]})) + \
                        " / numpy " + " ".join(env["numpy"]["dispatch"])
    rows = []
    for (name, portable), t in times.items():
        native = statistics.median(times[(name, False)])
        rows.append({"workload": name, "mode": "portable" if portable else "native", "median_s": statistics.median(t),
                     "min_s": min(t), "ratio_to_native": statistics.median(t) / native, "rounds": len(t),
                     "kernels": kernels[(name, portable)], "cpu": cpu_name(), "date": time.strftime("%Y-%m-%d")})
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    path = OUT / ("portable-quick.csv" if args.quick else "portable.csv")
    table.to_csv(path, index=False)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
