"""The names a configuration may choose from: datasets, activations, losses, formats (optimizers: l2cli.optim).

A leaf module: it imports nothing, so the command line and the config schema
can offer and check these names without loading numpy or scikit-learn. The
modules that implement each name check at import time that they cover
exactly this list (see ``tests/test_architecture.py``).
"""

from __future__ import annotations

from typing import NamedTuple


class BuiltIn(NamedTuple):
    task: str
    description: str
    synthetic: bool


DATASETS: dict[str, BuiltIn] = {
    "iris": BuiltIn("classification", "Fisher's iris flowers, 3 classes (scikit-learn)", False),
    "wine": BuiltIn("classification", "Wine cultivars, 3 classes (scikit-learn)", False),
    "breast_cancer": BuiltIn("classification", "Wisconsin breast cancer, 2 classes (scikit-learn)", False),
    "digits": BuiltIn("classification", "8x8 handwritten digits, 10 classes (scikit-learn)", False),
    "diabetes": BuiltIn("regression", "Diabetes progression after one year (scikit-learn)", False),
    "moons": BuiltIn("classification", "Two interleaving half circles; n_samples, noise", True),
    "circles": BuiltIn("classification", "A circle inside a circle; n_samples, noise", True),
    "classification": BuiltIn("classification",
                              "Gaussian clusters; n_samples, n_features, n_classes, noise = label flip rate", True),
    "regression": BuiltIn("regression", "Sparse linear target; n_samples, n_features, noise = target std", True),
    "curve": BuiltIn("regression", "Noisy 1-D curve y = sin(2πx) + ε, x in [0, 1]; n_samples, noise", True),
    "teacher": BuiltIn("regression", "Isotropic linear teacher y = xᵀβ + σε, x ~ N(0, I_d), ‖β‖ = 1; n_samples, "
                                     "n_features = d, noise = σ", True),
    "modular": BuiltIn("classification", "Modular addition: the p² pairs (a, b) one-hot, class (a + b) mod p; "
                                         "modulus = p", True),
}

TASKS = ("classification", "regression")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
#: Initialisation that suits each activation when ``model.init = "auto"``.
DEFAULT_INIT = {"relu": "he", "tanh": "glorot", "sigmoid": "glorot", "identity": "glorot"}
INITS = ("auto", "he", "glorot")
LOSSES = ("auto", "cross_entropy", "logistic", "squared")
REDUCTIONS = ("mean", "sum")
#: How the penalty enters a first-order step (train.decay): as its gradient 2λθ, as a decoupled shrink by 2ηλ
#: (AdamW), or as a shrink by λ that the learning rate does not scale (Loshchilov & Hutter's Algorithm 2).
DECAYS = ("l2", "decoupled", "independent")
DTYPES = ("float64", "float32")
ENGINES = ("stacked", "sequential")
#: How the models of one seed start (sweep.path): each from its initialisation, or from the previous λ's
#: (l2cli.training.warm).
PATHS = ("cold", "warm")
SELECTION_RULES = ("min", "1se", "evidence")
#: When the curvature diagnostics run (sweep.curvature; l2cli.sweeps.diagnostics).
CURVATURE = ("auto", "on", "exact", "lanczos", "off")
#: Where chunks train (sweep.executor): this machine's processes, or a Dask cluster.
#: What to do with missing values in a CSV file (data.na).
NA_POLICIES = ("drop", "mean", "median", "most_frequent", "error")
#: CSV separators (data.sep): detected, or one of these.
SEPARATORS = ("auto", ",", ";", "tab", "|")
#: The decimal mark of a CSV file's numbers (data.decimal), and the thousands separators (data.thousands; '' none).
DECIMAL_MARKS = (".", ",")
THOUSANDS_MARKS = ("", ",", ".", " ", "'", "_")
#: What to do with the rows of a class rarer than data.min_class_rows (data.rare_classes).
RARE_CLASS_POLICIES = ("error", "drop", "merge")
#: What a command can print on stdout (``--format``).
FORMATS = ("table", "csv", "tsv", "json", "ndjson", "markdown")
#: the panels of ``l2cli plot``: the tables' view first, then the models' pictures
PANELS = ("losses", "norms", "learning", "coefficients", "heatmap", "across", "evidence", "boundary", "fit",
          "weights", "curvature")
#: What ``l2cli report`` writes: a self-contained HTML page, or GitHub-flavoured Markdown
REPORT_FORMATS = ("html", "markdown")
