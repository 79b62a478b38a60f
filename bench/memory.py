"""The memory a sweep takes against the size of its data, measured on the whole process tree, in one run.

    python bench/memory.py                    # writes bench/results/memory.csv
    python bench/memory.py --before 1238315   # also the same sweeps with l2cli at that commit (a git worktree)
    python bench/memory.py --big              # also a 2 GB CSV table (about 1.1 million rows × 100 columns)
    python bench/memory.py --quick            # a smoke run (20,000 rows; numbers not meaningful)

The sweep: a CSV table of 200,000 rows × 100 float features and a two-class target (scikit-learn's
make_classification, seed 0), one hidden layer of 64, 8 λ × 5 seeds, sgd, batch 256, 3 epochs, the default
split (train, validation and test), two worker processes (the layout this machine's two cores get), run as
``python -m l2cli sweep``.

Memory is the proportional set size (Pss, /proc/PID/smaps_rollup) summed over the sweep's process and its
workers, sampled every 10 ms: pages a forked worker shares with the main process count once. The baseline is
the same sweep on a 200-row table (the interpreter and its libraries); ``over_baseline`` is the peak less the
baseline, and ``ratio`` that against ``data_mib``, the float64 size of the table's features. The manifest's
own record (``memory``: this process's and the largest worker's peak resident set) is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results"
SWEEP = ["--target", "y", "--hidden", "64", "--lambdas", "logspace(-5,0,8)", "--seeds", "0,1,2,3,4",
         "--optimizer", "sgd", "--batch-size", "256", "--epochs", "3", "--lr", "0.01", "--set", "sweep.workers=2", "-q"]
FEATURES = 100


def write_table(path: Path, rows: int) -> None:
    """make_classification's rows as CSV, written in blocks (the generator's seed per block: any table will do)."""
    from sklearn.datasets import make_classification

    block = 100_000
    with open(path, "w") as fh:
        for k, start in enumerate(range(0, rows, block)):
            X, y = make_classification(min(block, rows - start), n_features=FEATURES, n_informative=5, n_redundant=0,
                                       n_clusters_per_class=1, flip_y=0.05, random_state=k)
            frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(FEATURES)]).assign(y=y)
            frame.to_csv(fh, index=False, header=k == 0)


def tree(pid: int) -> list[int]:
    """pid and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def pss_mib(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def measure(source: Path, table: Path, out: Path) -> dict:
    """Run the sweep with the l2cli of ``source``; its peak summed Pss, time and the manifest's record."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "l2cli", "sweep", "--data", str(table), *SWEEP, "--out", str(out)],
                            env=env, cwd=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], pss_mib(proc.pid))
            time.sleep(0.01)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"the sweep failed: {err.strip()[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"peak_pss_mib": round(peak[0], 1), "seconds": round(time.perf_counter() - start, 2),
            **{f"manifest_{k}": v for k, v in manifest.get("memory", {}).items()},
            "chunk_size": manifest["compute"]["chunk_size"], "workers": manifest["compute"]["workers"]}


def worktree(ref: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(where), ref], check=True,
                   capture_output=True)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 rows: checks the script, not the machine")
    parser.add_argument("--before", metavar="REF", help="also measure l2cli at this git commit")
    parser.add_argument("--big", action="store_true", help="also sweep a 2 GB CSV table")
    args = parser.parse_args()
    rows = 20_000 if args.quick else 200_000
    print(f"{cpu_name()}, {os.cpu_count()} cores", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tables = {"baseline": (tmp / "small.csv", 200), "200k": (tmp / "t200k.csv", rows)}
        if args.big:
            tables["2GB"] = (tmp / "big.csv", 1_100_000)
        for path, n in tables.values():
            write_table(path, n)
        sources = {"this checkout": ROOT}
        if args.before:
            sources[args.before] = worktree(args.before, tmp / "before")
        try:
            for label, source in sources.items():
                base = None
                for name, (path, n) in tables.items():
                    if name == "2GB" and source != ROOT:
                        continue
                    got = measure(source, path, tmp / f"run-{len(results)}")
                    base = got["peak_pss_mib"] if name == "baseline" else base
                    data = n * FEATURES * 8 / 2**20
                    over = got["peak_pss_mib"] - base
                    row = {"code": label, "table": name, "rows": n, "csv_mib": round(path.stat().st_size / 2**20, 1),
                           "data_mib": round(data, 1), **got, "over_baseline_mib": round(over, 1),
                           "ratio": round(over / data, 2) if name != "baseline" else np.nan}
                    results.append(row)
                    print(row, flush=True)
        finally:
            if args.before:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "before")],
                               capture_output=True)
    table = pd.DataFrame(results)
    table.insert(0, "cpu", cpu_name())
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / ("memory-quick.csv" if args.quick else "memory.csv"), index=False)
    print(table.drop(columns="cpu").to_string(index=False))


if __name__ == "__main__":
    main()
