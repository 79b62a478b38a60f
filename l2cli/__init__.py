"""l2cli: see what L2 regularization does to a NumPy multilayer perceptron.

The library API behind the command line:

    from l2cli import resolve, prepare, plan, run_sweep, run_experiment
    cfg = resolve(flags={"sweep.lambdas": "0,logspace(-4,0,5)"})
    run = run_experiment(cfg, out="runs/demo")
"""

__version__ = "0.1.0"

from .config import Config, resolve  # noqa: E402
from .runner import run_experiment  # noqa: E402
from .sweep import Point, plan, prepare, run_sweep  # noqa: E402

__all__ = ["Config", "Point", "plan", "prepare", "resolve", "run_experiment", "run_sweep", "__version__"]
