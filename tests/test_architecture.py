"""The shape of the house: short functions, a light command line, configs that cannot be invalid."""

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from l2cli.config import Config, DataConfig, TrainConfig, resolve
from l2cli.errors import InputError
from l2cli.optim import METHODS, OPTIMIZERS
from l2cli.vocabulary import choices

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

    from l2cli.config import resolve
    from l2cli.data.builtin import load_builtin
    from l2cli.maths.activations import ACTIVATIONS

    assert tuple(ACTIVATIONS) == choices.ACTIVATIONS
    assert set(choices.DEFAULT_INIT) == set(choices.ACTIVATIONS)
    for name in OPTIMIZERS:  # each one trains: J falls on a small problem
        budget = {"train.max_iter": 5} if METHODS[name].minimize else {"train.epochs": 5, "train.lr": 0.05}
        _, trained = sweep(resolve(flags={"data.dataset": "moons", "model.hidden": [4], "sweep.lambdas": [1e-3],
                                          "sweep.seeds": [0], "sweep.workers": 1, "train.optimizer": name, **budget}))
        objective = trained.history.sort_values("epoch")["objective"].to_numpy()
        assert objective[-1] < objective[0], name
    for name, info in choices.DATASETS.items():
        assert load_builtin(name, n_samples=20).task == info.task


@pytest.mark.slow  # ~0.6–1 s; the suite's time budget keeps it for CI
def test_plot_leaves_the_callers_matplotlib_backend_alone():
    pytest.importorskip("matplotlib")
    code = ("import matplotlib; matplotlib.use('svg'); import l2cli.plot.figure; import matplotlib.pyplot as plt; "
            "print(matplotlib.get_backend())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "svg"


#: (sweeps/layout.py reads the schema only for Compute's declared defaults; it never sees a Config)
BELOW_THE_EXPERIMENT = ("sweeps/engine.py", "executors", "machine", "training", "maths", "optim")


@pytest.mark.parametrize("place", BELOW_THE_EXPERIMENT)
def test_nothing_below_the_experiment_layer_reads_the_config(place):
    files = [PACKAGE / place] if place.endswith(".py") else list((PACKAGE / place).glob("*.py"))
    names = {module_name(p) for p in files}
    edges = [(a, b) for a, b in module_imports() if a in names]
    targets = {b for _, b in edges}
    assert edges and not {t for t in targets if t.startswith(("l2cli.config", "l2cli.sweeps.experiment",
                                                              "l2cli.sweeps.runner", "l2cli.api"))}, targets


#: The top-level modules besides the folders (l2cli.FOLDERS says why each is there)
TOP = {"__init__", "__main__", "api", "errors"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exists(name: str) -> bool:
    """Whether l2cli.a.b is a module or package of this tree."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@functools.cache
def module_imports() -> list[tuple[str, str]]:
    """Every import of a module of the package by a module of the package, top-level and in functions,
    relative ones resolved from the importing module's own package (an ``import`` of a name that is not a
    module is an import of the module that holds it)."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    edges.append((here, full if exists(full) else target))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("l2cli"):
                edges.append((here, node.module))
            elif isinstance(node, ast.Import):
                edges += [(here, a.name) for a in node.names if a.name.startswith("l2cli")]
    return edges


def folder_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_relative_import_names_a_module_that_exists():
    """An import of a module that is not there fails only when its line runs (a Dask worker's, say)."""
    missing = sorted(f"{a} -> {b}" for a, b in module_imports() if not exists(b))
    assert len(module_imports()) > 300 and missing == []


def test_the_folders_are_the_package_and_every_import_goes_down_their_order():
    import l2cli

    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert found == set(l2cli.FOLDERS) and top == TOP, "a new folder goes into l2cli.FOLDERS, in its place"
    rank = {name: k for k, name in enumerate(l2cli.FOLDERS)}
    rank.update({"errors": -1, "__init__": -1, "api": len(rank), "__main__": len(rank) + 1})
    upward = sorted(f"{a} -> {b}" for a, b in module_imports()
                    if folder_of(a) != folder_of(b) and rank[folder_of(b)] > rank[folder_of(a)]
                    and not (folder_of(a) == "__init__" and a == "l2cli"))
    assert upward == []


def test_there_is_no_import_cycle():
    edges: dict[str, set[str]] = {}
    for a, b in module_imports():
        if a != b:
            edges.setdefault(a, set()).add(b)

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
