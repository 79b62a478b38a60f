"""l2cli: see what L2 regularization does to a NumPy multilayer perceptron.

    import l2cli
    run = l2cli.sweep(dataset="moons", lambdas="0,logspace(-4,0,5)", epochs=500)
    run.aggregate        # pandas: one row per λ, means and 95 % intervals over seeds

Importing the package loads nothing heavy: each name below is imported from its
module the first time it is used.
"""

__version__ = "0.1.0"

#: name -> the module that defines it
_EXPORTS = {
    "sweep": "api", "Config": "config", "resolve": "config", "Run": "rundir", "run_experiment": "runner",
    "prepare": "experiment", "Experiment": "experiment", "Compute": "layout", "Point": "plan",
    "points": "plan", "run_points": "engine", "InputError": "errors",
    "L2MLPClassifier": "estimators", "L2MLPRegressor": "estimators", "L2MLPClassifierCV": "estimators",
    "L2MLPRegressorCV": "estimators",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'l2cli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
