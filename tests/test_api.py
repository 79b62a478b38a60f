"""The Python API: l2cli.sweep(...) for notebooks, and the docs' example run as written."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import l2cli
from l2cli.errors import InputError

LIBRARY_PAGE = Path(__file__).resolve().parents[1] / "docs" / "library.md"
QUICK = {"dataset": "moons", "n_samples": 80, "hidden": [8], "epochs": 30, "seeds": [0, 1]}


def test_sweep_returns_the_run_and_writes_nothing(tmp_path):
    run = l2cli.sweep(lambdas="0,logspace(-4,0,5)", **QUICK)
    assert list(Path.cwd().iterdir()) == []  # nothing written
    assert run.path is None
    assert isinstance(run.summary, pd.DataFrame) and len(run.summary) == 6 * 2
    assert list(run.aggregate["lambda"]) == [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert run.weights["W1"].shape == (12, 2, 8) and run.weights["seed"].dtype == np.uint32
    np.testing.assert_allclose(np.sqrt((run.weights["W1"] ** 2).sum(axis=(1, 2))), run.summary["norm_W1"],
                               rtol=1e-12)
    assert run.selection["lambda"] in set(run.summary["lambda"])
    assert run.manifest["config"]["train"]["epochs"] == 30


def test_sweep_writes_the_run_directory_when_asked(tmp_path):
    run = l2cli.sweep(lambdas="0,1", out=tmp_path / "run", **QUICK)
    assert run.path == tmp_path / "run"
    again = l2cli.Run.load(run.path)
    pd.testing.assert_frame_equal(again.summary, run.summary, check_dtype=False)
    assert again.selection == run.selection


def test_a_config_files_output_dir_is_honoured_as_on_the_command_line(tmp_path):
    config = tmp_path / "exp.toml"
    config.write_text(f'[data]\ndataset = "moons"\n[train]\nepochs = 3\n[sweep]\nlambdas = [0.1]\nseeds = [0]\n'
                      f'[output]\ndir = "{tmp_path / "from-file"}"\n')
    run = l2cli.sweep(config, hidden=[4])
    assert run.path == tmp_path / "from-file" and (run.path / "summary.csv").is_file()
    elsewhere = l2cli.sweep(config, hidden=[4], out=tmp_path / "given")
    assert elsewhere.path == tmp_path / "given"  # out= wins, as --out does


def test_keyword_names_are_the_config_names_and_are_checked():
    with pytest.raises(InputError, match="did you mean 'epochs'"):
        l2cli.sweep(epoch=3)
    with pytest.raises(InputError, match="train.lr: -1.0 is out of range"):
        l2cli.sweep(lr=-1)
    run = l2cli.sweep(lambdas="1e-3", grid={"hidden": [[4], [6]]}, **{**QUICK, "hidden": [8]})
    assert run.grid_keys == ["model.hidden"] and set(run.summary["model.hidden"]) == {"[4]", "[6]"}


@pytest.mark.slow  # about 2 s; the default suite stays under 60 s
def test_the_docs_python_example_runs_as_written():
    text = LIBRARY_PAGE.read_text()
    block = re.search(r"## The library.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "docs/library.md", "exec"), namespace)  # noqa: S102 - the documentation is the test
    assert isinstance(namespace["run"], l2cli.Run)
