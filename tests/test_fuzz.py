"""Fuzzing with hypothesis: whatever a user types or feeds in, the config loader, --set and --grid, the λ-grid
parser and the CSV loader either succeed or raise the project's InputError (one line, exit 2), never
anything else. 1000 examples each; slow."""

import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2cli.config import Config, all_keys, resolve
from l2cli.errors import InputError
from l2cli.vocabulary.grid import parse_grid

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))

numbers = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["1e-3", "1e400", "-0", "nan", "inf", "0x10", "1_000", ".5", "5."]))
grid_terms = st.one_of(numbers.map(str), st.builds(lambda f, a, b, n: f"{f}({a},{b},{n})",
                                                   st.sampled_from(["logspace", "linspace", "exp", "logspace "]),
                                                   numbers, numbers, st.integers(-5, 10**7)))
grid_texts = st.one_of(st.text(max_size=40), st.lists(grid_terms, max_size=5).map(",".join))


def succeeds_or_input_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)  # one line
        return None


@FUZZ
@given(grid_texts)
def test_lambda_grid_parser(text):
    values = succeeds_or_input_error(parse_grid, text)
    if values is not None:
        assert values == sorted(set(values)) and all(np.isfinite(values)) and min(values) >= 0


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-10**19, 10**19), st.floats().map(repr).map(lambda r: r.replace("nan", "nan")),
              st.text(alphabet=string.printable, max_size=12).map(lambda t: '"' + t.replace("\\", "").replace(
                  '"', "").replace("\n", "") + '"'), st.sampled_from(["inf", "-inf", "nan", "[]", "{}", "''"])),
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(map(str, xs)) + "]"), max_leaves=6)
keys = st.one_of(st.sampled_from(all_keys()), st.text(alphabet=string.ascii_lowercase + "._", max_size=15))


@FUZZ
@given(keys, st.one_of(toml_values.map(str), st.text(max_size=20)))
def test_set_values(key, value):
    cfg = succeeds_or_input_error(resolve, overrides=[f"{key}={value}"])
    assert cfg is None or isinstance(cfg, Config)


@FUZZ
@given(keys, st.lists(st.one_of(toml_values.map(str), st.text(max_size=8)), max_size=4).map(",".join))
def test_grid_values(key, values):
    cfg = succeeds_or_input_error(resolve, grid=[f"{key}={values}"])
    if cfg is not None:
        assert all(cfg.at(cell) for cell in cfg.cells())


sections = st.sampled_from(["data", "model", "train", "sweep", "output", "grid", "trian", "x"])
documents = st.lists(st.tuples(sections, st.lists(st.tuples(st.one_of(st.sampled_from(
    [k.partition(".")[2] for k in all_keys()] + ['"model.hidden"', '"train.lr"']), st.text(
    alphabet=string.ascii_lowercase, min_size=1, max_size=8)), toml_values), max_size=4)), max_size=4).map(
    lambda doc: "\n".join(f"[{s}]\n" + "\n".join(f"{k} = {v}" for k, v in pairs) for s, pairs in doc))


@FUZZ
@given(st.one_of(documents.map(str.encode), st.binary(max_size=200)))
def test_config_files(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("toml") / "exp.toml"
    path.write_bytes(content)
    cfg = succeeds_or_input_error(resolve, path)
    assert cfg is None or isinstance(cfg, Config)


cells = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                  st.sampled_from(["a", "b", "c", "", "2020-01-31", "2021-13-45", "x,y", '"q"', "1e999", "NA",
                                   "5,1", "1.234,5", "1 234", "Köln", "€", "31/01/2012", "01/02/2012",
                                   "2012/01/31", "31 Jan 2012", "January 31, 2012", "2012.1.31 08:30", "\x00"]))
encodings = st.sampled_from(["utf-8", "latin-1", "cp1252", "utf-16"])


@st.composite
def tables(draw):
    """The bytes of a table: repeated and padded names, ragged rows (a field more or fewer), any separator,
    decimal mark and encoding, numbers, text and date strings in many formats."""
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(0, 30))
    names = draw(st.lists(st.sampled_from(["y", "a", "b", "c", "d", " y", "y "]), min_size=n_cols, max_size=n_cols))
    frame = pd.DataFrame({f"{name}#{i}": draw(st.lists(cells, min_size=n_rows, max_size=n_rows))
                          for i, name in enumerate(names)})
    sep, decimal = draw(st.sampled_from([(",", "."), (";", "."), ("\t", "."), (";", ",")]))
    lines = frame.to_csv(index=False, sep=sep, decimal=decimal).splitlines()
    for i, name in enumerate(names):  # the real header may repeat names
        lines[0] = lines[0].replace(f"{name}#{i}", name, 1)
    if n_rows and draw(st.booleans()):  # a ragged row
        k = draw(st.integers(1, n_rows))
        lines[k] = lines[k] + sep if draw(st.booleans()) else lines[k].rpartition(sep)[0]
    return "\n".join(lines).encode(draw(encodings), errors="replace")


@FUZZ
@given(st.one_of(tables(), st.binary(max_size=300)),
       st.fixed_dictionaries({"data.na": st.sampled_from(["drop", "mean", "most_frequent", "error"]),
                              "data.task": st.sampled_from(["auto", "classification", "regression"]),
                              "data.max_categories": st.integers(2, 30),
                              "data.encoding": encodings, "data.decimal": st.sampled_from([".", ","]),
                              "data.thousands": st.sampled_from(["", " ", "'"]),
                              "data.rare_classes": st.sampled_from(["error", "drop", "merge"]),
                              "data.dates": st.sampled_from([[], ["a"], ["a=%d/%m/%Y"], ["b=%Y/%m/%d"]])}))
def test_csv_loader(tmp_path_factory, content, flags):
    from l2cli.sweeps.experiment import prepare

    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_bytes(content)
    cfg = succeeds_or_input_error(resolve, flags={"data.path": str(path), "data.target": "y", "data.val_size": 0.2,
                                                  **flags})
    exp = succeeds_or_input_error(prepare, cfg) if cfg is not None else None
    if exp is not None:
        assert np.isfinite(exp.split.X_train).all() and len(exp.split.X_train) >= 2
