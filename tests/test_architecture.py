"""The shape of the house: short functions, a light command line, configs that cannot be invalid."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from l2cli import choices
from l2cli.config import Config, DataConfig, TrainConfig, resolve
from l2cli.errors import InputError
from l2cli.optim import OPTIMIZERS

PACKAGE = Path(__file__).resolve().parents[1] / "l2cli"


def functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(PACKAGE)}:{node.name}", node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_60_lines():
    found = dict(functions())
    assert len(found) > 100  # the walk really sees the package
    assert {name: n for name, n in found.items() if n > 60} == {}


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(__import__('json').dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.partition(".")[0] for name in json.loads(proc.stdout)}


@pytest.mark.parametrize("statement", ["import l2cli.cli", "import l2cli", "import l2cli.config"])
def test_the_command_line_and_the_config_import_nothing_heavy(statement):
    heavy = {"sklearn", "pandas", "matplotlib", "scipy", "numpy"}
    assert loaded_after(statement) & heavy == set()
    assert "click" in loaded_after("import l2cli.cli")  # the check can see an import


@pytest.mark.parametrize("build", [
    lambda: TrainConfig(lr=-5),
    lambda: DataConfig(test_size=1.5),
    lambda: Config(train=TrainConfig(early_stopping=True), data=DataConfig(val_size=0.0)),
    lambda: Config(grid={"model.hidden": [8, 16]}),  # a flat list: two one-layer cells were meant?
    lambda: Config(grid={"sweep.seeds": [[1], [2]]}),
    lambda: resolve(flags={"sweep.seeds": [2**32]}),
])
def test_a_config_with_an_invalid_value_cannot_be_built(build):
    with pytest.raises(InputError):
        build()


def test_changing_a_config_checks_the_new_value():
    cfg = Config()
    with pytest.raises(InputError, match="train.lr: -5.0 is out of range"):
        cfg.train.lr = -5
    with pytest.raises(InputError, match=r"sweep.lambdas: λ must be finite and ≥ 0, got -1.0"):
        cfg.sweep.lambdas = [-1]
    with pytest.raises(InputError, match="did you mean 'train.lr'"):
        cfg.train.lrr = 0.1
    assert cfg.train.lr == 0.01 and cfg.sweep.lambdas == Config().sweep.lambdas  # unchanged
    cfg.sweep.lambdas = "0,logspace(-2,0,3)"  # text is parsed as it is set
    assert cfg.sweep.lambdas == [0.0, 0.01, 0.1, 1.0]
    with pytest.raises(InputError, match="train.early_stopping needs a validation split"):
        cfg.replace({"train.early_stopping": True, "data.val_size": 0.0})
    cfg.train.early_stopping, cfg.data.val_size = True, 0.0  # one key at a time cannot see the rule…
    with pytest.raises(InputError, match="validation split"):
        cfg.validate()  # …which every run checks before training


def test_every_choice_has_an_implementation():
    from conftest import sweep

    from l2cli.activations import ACTIVATIONS
    from l2cli.config import resolve
    from l2cli.data import load_builtin

    assert tuple(ACTIVATIONS) == choices.ACTIVATIONS
    assert set(choices.DEFAULT_INIT) == set(choices.ACTIVATIONS)
    for name in OPTIMIZERS:  # each one trains: J falls on a small problem
        budget = {"train.max_iter": 5} if name == "lbfgs" else {"train.epochs": 5, "train.lr": 0.05}
        _, trained = sweep(resolve(flags={"data.dataset": "moons", "model.hidden": [4], "sweep.lambdas": [1e-3],
                                          "sweep.seeds": [0], "sweep.workers": 1, "train.optimizer": name, **budget}))
        objective = trained.history.sort_values("epoch")["objective"].to_numpy()
        assert objective[-1] < objective[0], name
    for name, info in choices.DATASETS.items():
        assert load_builtin(name, n_samples=20).task == info.task


@pytest.mark.slow  # ~0.6–1 s; the suite's time budget keeps it for CI
def test_plot_leaves_the_callers_matplotlib_backend_alone():
    pytest.importorskip("matplotlib")
    code = ("import matplotlib; matplotlib.use('svg'); import l2cli.plot; import matplotlib.pyplot as plt; "
            "print(matplotlib.get_backend())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "svg"


BELOW_THE_EXPERIMENT = ("plan", "layout", "engine", "executors", "blas", "summary", "train", "stack", "stopping",
                        "evaluate", "network", "objective", "optim", "losses", "activations")


@pytest.mark.parametrize("module", BELOW_THE_EXPERIMENT)
def test_nothing_below_the_experiment_layer_reads_the_config(module):
    files = [PACKAGE / f"{module}.py"] if (PACKAGE / f"{module}.py").exists() else (PACKAGE / module).glob("*.py")
    trees = [ast.parse(path.read_text()) for path in files]
    imported = {node.module for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and not imported & {"config", "experiment", "runner", "api"}, imported


#: The layers of the package, lowest first: a module imports only from its own layer or the ones below
#: (a function-level import counts as much as a top-level one). A new module must be given a layer here.
LAYERS = {
    "base": {"__init__", "errors", "choices", "grid", "kinds", "faults", "formats", "conventions", "blas",
             "environment", "numeric_warnings"},
    "nn": {"activations", "losses", "network", "objective", "optim", "stack", "stopping", "history", "lbfgs",
           "evaluate", "train", "path", "curvature", "lanczos", "evidence", "diagnostics", "checkpoint", "layout"},
    "config": {"config"},
    "data": {"data", "dates", "table", "source", "preprocess"},
    "sweep": {"experiment", "plan", "summary", "engine", "executors", "cells", "crossval", "selection", "journal",
              "manifest", "runner", "rundir", "runfiles"},
    "tools": {"verify", "diff", "gradcheck", "models", "plot", "pictures", "curvature_plot", "conclusions", "api",
              "estimators"},
    "cli": {"cli", "__main__", "reference"},
}


def import_edges() -> dict[str, set[str]]:
    """Every import between the package's top-level modules and sub-packages, top-level and in functions."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        here = parts[:-1] if parts[-1] == "__init__" else parts
        base = here if parts[-1] == "__init__" else here[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = base[:len(base) - node.level + 1] + ([node.module] if node.module else [])
                names = [target] if node.module else [target + [a.name] for a in node.names]
                for name in (".".join(t).split(".") for t in names):
                    a = here[1] if len(here) > 1 else "__init__"
                    b = name[1] if len(name) > 1 else "__init__"
                    if a != b:
                        edges.setdefault(a, set()).add(b)
    return edges


def test_every_import_goes_down_the_layers():
    layer_of = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
    names = {p.stem if p.name != "__init__.py" else p.parent.name for p in PACKAGE.glob("*")
             if p.suffix == ".py" or (p / "__init__.py").exists()} - {"l2cli"} | {"__init__"}
    assert names - set(layer_of) == set(), "give each new module a layer in LAYERS"
    edges = import_edges()
    assert len(edges) > 40 and "cli" in edges  # the walk really sees the imports
    upward = sorted(f"{a} ({list(LAYERS)[layer_of[a]]}) -> {b} ({list(LAYERS)[layer_of.get(b, 0)]})"
                    for a, targets in edges.items() for b in targets if layer_of.get(b, 0) > layer_of[a])
    assert upward == []


def test_there_is_no_import_cycle():
    edges = import_edges()

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert sorted(a for a in edges if a in reach(a)) == []


def test_no_module_is_longer_than_400_lines():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(lengths) > 50
    assert {name: n for name, n in lengths.items() if n > 400} == {}
