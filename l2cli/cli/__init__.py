"""The ``l2cli`` command line: parses options, calls the library, formats output.

Only click and l2cli's leaf modules are imported at start-up; each command
imports what it uses, so ``--help``, ``--version``, ``best`` and shell
completion never load numpy, pandas or scikit-learn.

Exit codes: 0 success; 1 run failure (a model diverged, a gradient check
failed, or an internal error); 2 usage or input error, reported on one line.

    app.py        the group, usage errors, formats        options.py   the options that set config keys
    sweep.py      l2cli sweep                             progress.py  its progress on stderr
    runs.py       show, best, runs, plot, predict, gradcheck, datasets
    verify.py     verify, diff                            report.py    l2cli report
"""

from . import report, runs, sweep, verify  # noqa: F401  (each module adds its commands to the group)
from .app import cli, main

__all__ = ["cli", "main"]
