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


# --- run-directory documents, the environment record, encodings and predict rows (issue: faults) ---------------

#: JSON values of every kind and size a hostile file can hold: wrong types, huge and NUL-containing text
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(max_size=20), st.sampled_from(["A" * 300_000, "Has\x00well", "", "Haswell", "X86_V3"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def paths_of(doc, prefix=()):
    """Every path (a tuple of keys and indices) inside a JSON document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths_of(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths_of(v, (*prefix, i))


def replaced(doc, path, value):
    import copy

    doc = copy.deepcopy(doc)
    if not path:
        return value
    place = doc
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    return doc


def mutated(doc, data):
    """``doc`` with one place, drawn from all of its paths, holding a drawn hostile JSON value."""
    return replaced(doc, data.draw(st.sampled_from(sorted(paths_of(doc), key=repr))), data.draw(json_values))


@pytest.fixture(scope="module")
def documents_of_a_run(tmp_path_factory):
    """The manifest and plan of a real run, and its environment record."""
    import json
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("fuzzrun") / "run"
    proc = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--hidden", "4", "--epochs", "4", "--lambdas",
                           "0,0.1", "--seeds", "0,1", "--set", "sweep.chunk_size=1", "--set", "sweep.workers=1",
                           "--out", str(out), "-q"], env={**os.environ, "L2CLI_FAULT": "chunk-write:2"},
                          capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    plan = json.loads((out / ".progress" / "plan.json").read_text())
    from l2cli.machine.environment import record

    return plan, record()


@FUZZ
@given(st.data())
def test_manifest_fields(pristine_manifest, data):
    from l2cli.machine.environment import differences, flat, pins, record
    from l2cli.rundir.files import check_manifest

    doc, path = pristine_manifest
    changed = mutated(doc, data)
    checked = succeeds_or_input_error(check_manifest, changed if isinstance(changed, dict) else {"x": changed}, path)
    if checked is not None:  # what every reader then takes from it works
        env = checked.get("environment") or {}
        flat(env)
        assert all(isinstance(v, str) and "\x00" not in v and len(v) < 1000 for v in pins(env).values())
        differences(env, record())
        sorted([checked.get("started", ""), ""])


@FUZZ
@given(st.data(), st.sampled_from(["manifest", "selection"]))
def test_report_text_of_hostile_documents(pristine_manifest, data, which):
    """The report's words and tables of a run whose manifest or selection holds a hostile value: made, or one
    InputError line when the documents' checks refuse it; in HTML every string escaped, in Markdown one line."""
    import json
    import re

    from l2cli.report.html import page
    from l2cli.report.markdown import summary
    from l2cli.report.story import story
    from l2cli.rundir.files import check_manifest, check_selection
    from l2cli.rundir.run import Run

    doc, path = pristine_manifest
    selection = json.loads((path.parent / "selection.json").read_text())
    manifest = mutated(doc, data) if which == "manifest" else doc
    selection = mutated(selection, data) if which == "selection" else selection
    checked = succeeds_or_input_error(check_manifest, manifest if isinstance(manifest, dict) else {"x": manifest},
                                      path)
    chosen = succeeds_or_input_error(check_selection, selection if isinstance(selection, dict) else {"x": 1},
                                     path.parent / "selection.json")
    if checked is None or chosen is None:
        return
    doc_ = succeeds_or_input_error(lambda: story(Run(checked, chosen, path.parent), [], {}))
    if doc_ is None:
        return
    html = page(doc_, {})
    assert not re.search(r"<(?!/?(?:html|head|meta|title|style|body|main|h1|h2|h3|p|nav|ol|li|a|section|table|"
                         r"caption|thead|tbody|tr|th|td|div|footer)\b)", html[html.index("<body>"):])
    md = summary(doc_)
    assert "\x00" not in md


@pytest.fixture(scope="module")
def pristine_manifest(tmp_path_factory):
    import json

    from conftest import invoke

    out = tmp_path_factory.mktemp("manifest") / "run"
    assert invoke("sweep", "--hidden", "4", "--epochs", "2", "--lambdas", "0,0.1", "--seeds", "0", "--out", out,
                  "-q").exit_code == 0
    return json.loads((out / "manifest.json").read_text()), out / "manifest.json"


@FUZZ
@given(st.data())
def test_environment_records(documents_of_a_run, data):
    from l2cli.machine.environment import check_record, differences, flat, pins, recreatable
    from l2cli.machine.kernels import replay_pins

    _, env = documents_of_a_run
    changed = mutated(env, data)
    wrong = check_record(changed)
    assert wrong is None or (isinstance(wrong, str) and "\n" not in wrong)
    if wrong is None:
        flat(changed)
        differences(changed, env)
        recreatable(changed, env)
        for wanted in (pins(changed), replay_pins(changed)[0]):
            assert all(isinstance(v, str) and "\x00" not in v and len(v) < 1000 for v in wanted.values())


@FUZZ
@given(st.data())
def test_plan_fields(documents_of_a_run, data):
    from l2cli.rundir.journal import check_plan
    from l2cli.sweeps.layout import Compute

    plan, _ = documents_of_a_run
    changed = mutated(plan, data)
    checked = succeeds_or_input_error(check_plan, changed if isinstance(changed, dict) else {}, "plan.json")
    if checked is not None:
        for layout in checked["layouts"]:
            compute = Compute.of(layout)
            assert compute.chunk_size >= 1 and compute.workers >= 1 and compute.threads >= 1


@FUZZ
@given(st.one_of(st.sampled_from(sorted(set(__import__("encodings.aliases").aliases.aliases.values()))),
                 st.sampled_from(["rot13", "base64", "zlib", "hex", "uu", "bz2", "quopri", "idna", "punycode",
                                  "undefined", "utf-8-sig", "mbcs", "oem"]),
                 st.text(max_size=12)))
def test_encodings(tmp_path_factory, name):
    from l2cli.data.source import ReadOptions, read_frame
    from l2cli.vocabulary.kinds import Encoding

    canonical = succeeds_or_input_error(Encoding().check, "data.encoding", name)
    if canonical is None:
        return
    path = tmp_path_factory.mktemp("enc") / "t.csv"
    try:
        path.write_text("a,b\n1,2\n3,4\n", encoding=canonical)
    except (UnicodeError, LookupError):
        return  # an encoding that cannot write this text at all (undefined)
    succeeds_or_input_error(read_frame, path, ReadOptions("auto", canonical, ".", "", ""))


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**30, 10**30).map(str),
                  st.text(alphabet=string.printable.replace("\r", "").replace("\n", ""), max_size=12),
                  st.sampled_from(["", "red", "blue", "2020-01-05", "2020-13-45", "1e308", "-1e400", "NA", "nan",
                                   "1", "3.0", "\ufeff", "true"]))


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    from conftest import invoke

    tmp = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    n = 100
    pd.DataFrame({"a": rng.normal(size=n), "colour": rng.choice(["red", "blue", "1"], n),
                  "day": pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
                  "y": rng.integers(0, 2, n)}).to_csv(tmp / "t.csv", index=False)
    out = tmp / "run"
    assert invoke("sweep", "--data", tmp / "t.csv", "--target", "y", "--dates", "day", "--lambdas", "0.01",
                  "--seeds", "0", "--epochs", "3", "--out", out, "-q").exit_code == 0
    from l2cli.rundir.run import Run

    return Run.load(out)


@FUZZ
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=6), st.sampled_from(["fail", "skip"]))
def test_predict_rows(tmp_path_factory, mixed_run, rows, on_error):
    import csv

    from l2cli.errors import RunFailure
    from l2cli.tools.reload import predict_file

    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "colour", "day"])
        writer.writerows(rows)
    try:
        table = succeeds_or_input_error(predict_file, mixed_run, path, on_error=on_error)
    except RunFailure as exc:
        assert "\n" not in str(exc)
        return
    if table is not None:
        assert np.isfinite(table.select_dtypes("number").to_numpy(dtype=float)).all()
