"""The report of the default run: its size, its time after imports, and its bytes the same from process to
process (issue: at most 1.5 MB and 3 s here, the Markdown under 64 KiB).

    python bench/report.py             # 5 rounds; writes bench/results/report.csv
    python bench/report.py --quick     # a smaller run, 2 rounds: a smoke run whose numbers mean nothing

The default run (``l2cli sweep``, configs/default.toml) is made once. Each round then starts a new Python
process that imports every module the report needs, times ``html_report`` and ``markdown_report`` on the run (wall
clock, in that process), and writes the page; the page must be the same bytes in every round. The table
gives the median and the maximum over rounds, the sizes, and whether every round wrote the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "results"
ROUND = """
import json, sys, time
t0 = time.perf_counter()
from l2cli.rundir.run import Run
from l2cli.report.make import html_report, markdown_report
# every module the report imports on its way (l2cli's, matplotlib's SVG writer, scikit-learn's data and
# preprocessing for the rebuilt data), outside the timing
import l2cli.report.pictures, l2cli.plot.figure, l2cli.plot.pictures, l2cli.plot.curvature, l2cli.tools.reload
import l2cli.sweeps.diagnostics, l2cli.report.html, l2cli.report.markdown, l2cli.report.story
import matplotlib.backends.backend_svg, sklearn.datasets, sklearn.model_selection, sklearn.preprocessing
t1 = time.perf_counter()
run = Run.load(sys.argv[1])
page = html_report(run)
t2 = time.perf_counter()
md = markdown_report(Run.load(sys.argv[1]))
t3 = time.perf_counter()
open(sys.argv[2], "w", encoding="utf-8").write(page)
print(json.dumps({"imports_s": t1 - t0, "html_s": t2 - t1, "markdown_s": t3 - t2, "markdown_bytes": len(md.encode())}))
"""


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smaller run and 2 rounds (a smoke run)")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "default"
        sweep = [sys.executable, "-m", "l2cli", "sweep", "-q", "--out", str(run)]
        if args.quick:
            sweep += ["--epochs", "50", "--seeds", "0,1"]
        subprocess.run(sweep, check=True, stdout=subprocess.DEVNULL)
        times, digests, size = [], set(), 0
        for k in range(rounds):
            page = Path(scratch) / f"report-{k}.html"
            done = subprocess.run([sys.executable, "-c", ROUND, str(run), str(page)], check=True,
                                  capture_output=True, text=True)
            times.append(json.loads(done.stdout))
            digests.add(hashlib.sha256(page.read_bytes()).hexdigest())
            size = page.stat().st_size
    html = [t["html_s"] for t in times]
    row = {"run": "default" + (" (quick)" if args.quick else ""), "rounds": rounds,
           "html_s_median": round(statistics.median(html), 3), "html_s_max": round(max(html), 3),
           "markdown_s_median": round(statistics.median(t["markdown_s"] for t in times), 3),
           "imports_s_median": round(statistics.median(t["imports_s"] for t in times), 3),
           "html_bytes": size, "markdown_bytes": times[-1]["markdown_bytes"],
           "same_bytes_every_round": len(digests) == 1, "html_limit_s": 3.0, "html_limit_bytes": 1_500_000,
           "markdown_limit_bytes": 65_536, "cpu": cpu(), "python": platform.python_version()}
    OUT.mkdir(exist_ok=True)
    name = "report-quick.csv" if args.quick else "report.csv"
    pd.DataFrame([row]).to_csv(OUT / name, index=False)
    print(pd.DataFrame([row]).T.to_string(header=False))


if __name__ == "__main__":
    main()
