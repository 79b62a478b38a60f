"""Start-up times of l2cli's commands beside bare Python, in one run (whole processes, wall clock).

    python bench/startup.py            # 15 rounds; writes bench/results/startup.csv
    python bench/startup.py --rounds 5

Each round runs every command once, in turn, so a noisy machine slows all of
them alike; the table gives the median and the minimum over rounds. The sweep
row is a one-epoch, one-model sweep, compared with importing what it must
import anyway (scikit-learn's model selection and pandas): its "fixed cost" is
the difference of the medians. Targets (issue 10): --help, --version, best and
shell completion ≤ 0.25 s; show ≤ 0.6 s; the sweep's fixed cost ≤ 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "results"
L2CLI = [sys.executable, "-c", "from l2cli.cli import main; main()"]  # the console script's own two lines


def commands(run: Path, scratch: Path) -> dict[str, tuple[list[str], dict, float | None]]:
    """name -> (argv, extra environment, target in seconds)."""
    completion = {"_L2CLI_COMPLETE": "bash_complete", "COMP_WORDS": "l2cli sw", "COMP_CWORD": "1"}
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], {}, None),
        "l2cli --help": ([*L2CLI, "--help"], {}, 0.25),
        "l2cli --version": ([*L2CLI, "--version"], {}, 0.25),
        "l2cli best RUN": ([*L2CLI, "best", str(run)], {}, 0.25),
        "shell completion": (L2CLI, completion, 0.25),
        "l2cli show RUN": ([*L2CLI, "show", str(run)], {}, 0.6),
        "import sklearn.model_selection, pandas": (
            [sys.executable, "-c", "import sklearn.model_selection, pandas"], {}, None),
        "l2cli sweep (1 model, 1 epoch)": (
            [*L2CLI, "sweep", "-q", "--epochs", "1", "--lambdas", "0", "--seeds", "0", "--format", "csv",
             "--out", str(scratch / "sweep")], {}, None),
    }


def time_once(argv: list[str], env: dict, scratch: Path) -> float:
    shutil.rmtree(scratch / "sweep", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def measure(rounds: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        run = scratch / "run"
        subprocess.run([*L2CLI, "sweep", "-q", "--epochs", "20", "--out", str(run)], check=True,
                       stdout=subprocess.DEVNULL)
        cmds = commands(run, scratch)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(rounds + 1):  # the first round warms the file cache and is not counted
            for name, (argv, env, _) in cmds.items():
                times[name].append(time_once(argv, env, scratch))
    rows = [{"command": name, "median_s": statistics.median(t[1:]), "min_s": min(t[1:]), "target_s": cmds[name][2]}
            for name, t in times.items()]
    frame = pd.DataFrame(rows)
    base = frame.set_index("command")["median_s"]
    fixed = base["l2cli sweep (1 model, 1 epoch)"] - base["import sklearn.model_selection, pandas"]
    extra = {"command": "sweep fixed cost beyond those imports", "median_s": fixed, "min_s": None, "target_s": 0.2}
    frame = pd.concat([frame, pd.DataFrame([extra])], ignore_index=True)
    frame["met"] = [None if pd.isna(t) else bool(m <= t) for m, t in zip(frame["median_s"], frame["target_s"],
                                                                         strict=True)]
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    frame = measure(args.rounds)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {args.rounds} rounds")
    print(frame.to_markdown(index=False, floatfmt=".3f"))
    OUT.mkdir(exist_ok=True)
    frame.to_csv(OUT / "startup.csv", index=False)


if __name__ == "__main__":
    main()
