"""l2cli: see what L2 regularization does to a NumPy multilayer perceptron.

    import l2cli
    run = l2cli.sweep(dataset="moons", lambdas="0,logspace(-4,0,5)", epochs=500)
    run.aggregate        # pandas: one row per λ, means and 95 % intervals over seeds

Importing the package loads nothing heavy: each name below is imported from its
module the first time it is used.
"""

__version__ = "0.1.0"

#: The folders of the package in the order of a run's story, lowest first: a module imports only from its own
#: folder or the ones before it (tests/test_architecture.py holds the code to it). Beside them, at the top:
#: this file, __main__ (``python -m l2cli``), api (``l2cli.sweep``) and errors (InputError, which every
#: folder raises and a caller catches).
FOLDERS = (
    "vocabulary",  # the names a configuration may choose from, the kinds of value a key allows, λ grid text
    "machine",     # the cores, the memory room, BLAS threads, the numerical environment and its pinning
    "maths",       # one model: activations, losses, the network, J = L + λΩ, measurements, curvature, evidence
    "optim",       # the update rules and L-BFGS, each declaring its own keys
    "training",    # one stack of models trained: points, the loop, the stack, stopping, history, checkpoint, warm path
    "executors",   # where chunks of models train: this process, forked workers, threads, or a Dask cluster
    "config",      # the schema: every key declared once, its rules, and how a config is resolved
    "data",        # the built-in data sets, a user's file read and checked, dates, preprocessing
    "rundir",      # the run directory: the Run, each file's schema and checks, the manifest, the journal
    "sweeps",      # many models: the experiment, the layout, the engine, grid cells, CV, selection, the runner
    "tools",       # what reads a run: verify and its conclusions, diff, gradcheck, estimators, reload
    "plot",        # the pictures of a run
    "report",      # the report of a run: one self-contained HTML page, or a Markdown summary
    "cli",         # the command line, and the reference pages generated from it
)

#: name -> the module that defines it
_EXPORTS = {
    "sweep": "api", "Config": "config", "resolve": "config", "Run": "rundir.run", "InputError": "errors",
    "run_experiment": "sweeps.runner", "prepare": "sweeps.experiment", "Experiment": "sweeps.experiment",
    "Compute": "sweeps.layout", "Point": "sweeps.plan", "points": "sweeps.plan", "run_points": "sweeps.engine",
    "L2MLPClassifier": "tools.estimators", "L2MLPRegressor": "tools.estimators",
    "L2MLPClassifierCV": "tools.estimators", "L2MLPRegressorCV": "tools.estimators",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'l2cli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
