"""The tables people actually have: encodings, decimal commas, dates, mostly empty columns, rare classes, many
problems at once, tiny tables, predictions joined back, files that are not files, Excel and Parquet.

Every refusal is exit 2 with one stderr line and nothing written; every accepted variant of a table gives the
same numbers as its plain twin, bit for bit."""

import gzip
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

from l2cli.config import resolve
from l2cli.errors import InputError
from l2cli.sweeps.experiment import prepare

FAST = ["--hidden", "4", "--optimizer", "adam", "--lr", "0.05", "--epochs", "5", "--lambdas", "1e-3,1e-1",
        "--seeds", "0"]




def iris_like(n=90, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["setosa", "versicolor", "virginica"], n)
    centre = {"setosa": 5.0, "versicolor": 5.9, "virginica": 6.6}
    return pd.DataFrame({"sepal length": np.round([centre[k] + rng.normal(0, 0.4) for k in kind], 1),
                         "sepalWidth": np.round(rng.normal(3.0, 0.4, n), 2),
                         "price": np.round(rng.uniform(900, 5000, n), 1),
                         "species": kind})


def refused(tmp_path, *args, command="sweep") -> str:
    """The one stderr line of a refused command (exit 2, nothing on stdout, no run directory)."""
    out = tmp_path / "refused-run"
    extra = [*FAST, "--out", out] if command == "sweep" else []
    result = invoke(command, *args, *extra)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.stderr
    assert result.stdout == "" and not out.exists()
    return lines[0]


def matrix(path, *more, target="species") -> tuple[np.ndarray, str]:
    """The encoded training matrix and the split's fingerprint of a table read with ``more`` --set pairs."""
    exp = prepare(resolve(overrides=list(more), flags={"data.path": str(path), "data.target": target}))
    return exp.split.X_train, exp.split.fingerprint()


def same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


# --- reading: encodings, decimal marks, thousands, files that are not files ----------------------------------

def test_a_latin1_table_with_its_encoding_is_its_utf8_twin(tmp_path):
    frame = iris_like().assign(site=lambda f: np.where(f.index % 2, "Köln", "Zürich"))
    frame.to_csv(tmp_path / "utf8.csv", index=False)
    (tmp_path / "latin1.csv").write_bytes(frame.to_csv(index=False).encode("latin-1"))
    line = refused(tmp_path, "--data", tmp_path / "latin1.csv", "--target", "species")
    assert "latin1.csv is not utf-8 text (line 2: byte 0xfc); it reads as latin-1: --encoding latin-1" in line
    same(matrix(tmp_path / "latin1.csv", "data.encoding=latin-1"), matrix(tmp_path / "utf8.csv"))
    result = invoke("sweep", "--data", tmp_path / "latin1.csv", "--target", "species", "--encoding", "latin-1",
                    *FAST, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run/manifest.json").read_text())["config"]["data"]["encoding"] == "iso8859-1"


@pytest.mark.parametrize("text,encoding,hint", [("€,y\n1,0\n", "cp1252", "--encoding cp1252"),
                                                 ("a,y\n1,0\n", "utf-16", "is UTF-16 text: --encoding utf-16")])
def test_the_hint_names_the_likely_encoding(tmp_path, text, encoding, hint):
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode(encoding))
    assert hint in refused(tmp_path, "--data", path, "--target", "y")


def test_an_unknown_encoding_is_refused(tmp_path):
    assert "'klingon' is not a text encoding" in refused(tmp_path, "--data", "x.csv", "--target", "y",
                                                          "--encoding", "klingon")


def test_a_decimal_comma_table_is_its_dot_twin_bit_for_bit(tmp_path):
    frame = iris_like()
    frame.to_csv(tmp_path / "dots.csv", index=False)
    frame.to_csv(tmp_path / "commas.csv", index=False, sep=";", decimal=",")
    line = refused(tmp_path, "--data", tmp_path / "commas.csv", "--target", "species")
    assert "columns 'sepal length' (e.g. '" in line and "'sepalWidth'" in line
    assert "hold numbers written with another decimal mark or thousands separator: --decimal , reads them" in line
    assert "distinct values" not in line  # the wrong advice of before
    same(matrix(tmp_path / "commas.csv", "data.decimal=','"), matrix(tmp_path / "dots.csv"))
    result = invoke("sweep", "--data", tmp_path / "commas.csv", "--target", "species", "--decimal", ",", *FAST,
                    "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_thousands_separators(tmp_path):
    frame = iris_like()
    frame.to_csv(tmp_path / "plain.csv", index=False)
    text = frame.assign(price=[f"{p:,.1f}".replace(",", "X").replace(".", ",").replace("X", ".")
                               for p in frame.price]).to_csv(index=False, sep=";", decimal=",")
    (tmp_path / "dotted.csv").write_text(text)
    assert "--decimal , --thousands . reads them" in refused(tmp_path, "--data", tmp_path / "dotted.csv",
                                                              "--target", "species", "--decimal", ",")
    same(matrix(tmp_path / "dotted.csv", "data.decimal=','", "data.thousands='.'"), matrix(tmp_path / "plain.csv"))
    assert "both ','" in refused(tmp_path, "--data", tmp_path / "dotted.csv", "--target", "species", "--decimal", ",",
                                 "--thousands", ",")


def test_a_decimal_comma_target_is_not_taken_for_classes(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x;y\n" + "".join(f"{k};{k % 7},5\n" for k in range(40)))
    assert "target column 'y' holds numbers written with another decimal mark" in refused(
        tmp_path, "--data", path, "--target", "y")


@pytest.mark.slow  # 2.4 s: the default suite stays under 60 s
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_only_regular_files_are_read_and_a_fifo_never_hangs(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "l2cli", "sweep", "--data", str(fifo), "--target", "y", "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=120)  # a hang fails
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"Error: {fifo} is a FIFO (named pipe), not a regular file: give a data file"]
    assert "/dev/zero is a device, not a regular file" in refused(tmp_path, "--data", "/dev/zero", "--target", "y")


def test_a_sparse_file_of_zeros_is_binary_not_a_table(tmp_path):
    path = tmp_path / "sparse.csv"
    with open(path, "wb") as fh:
        fh.truncate(2 * 2**30)  # 2 GiB that take no disk: nothing is read past the first 64 KiB
    assert "holds binary data (NUL bytes), not CSV text" in refused(tmp_path, "--data", path, "--target", "y")


def test_decompressed_size_is_bounded_before_the_table_is_in_memory(tmp_path, monkeypatch):
    import l2cli.data.source

    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"a,y\n" + b"1,0\n" * 2_000_000))  # 8 MB of text in ~30 kB
    monkeypatch.setattr(l2cli.data.source, "memory_budget", lambda: 4 * 2**20)
    assert "bomb.csv.gz expands to more than 0.0 GiB, more than the memory available" in refused(
        tmp_path, "--data", path, "--target", "y")


def test_a_table_that_does_not_fit_in_memory_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import l2cli.machine.memory

    iris_like().to_csv(tmp_path / "t.csv", index=False)
    calls = []
    monkeypatch.setattr(l2cli.machine.memory, "available_memory", lambda: calls.append(1) or 10_000)
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("parsed before the memory check"))
    line = refused(tmp_path, "--data", tmp_path / "t.csv", "--target", "species")
    assert "reading t.csv (90 rows of 4 columns) needs about" in line and calls


def test_a_header_without_line_breaks_is_refused(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("a," * 600_000)
    assert "the first line is longer than 1 MiB" in refused(tmp_path, "--data", path, "--target", "a")


# --- dates -----------------------------------------------------------------------------------------------------

def dated(n=60, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    when = pd.to_datetime("2011-03-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    when = when.where(np.arange(n) != 0, pd.Timestamp("2012-01-25"))  # a day above 12: the order shows
    return pd.DataFrame({"when": when, "x": rng.normal(size=n), "y": rng.choice(["a", "b"], n)})


@pytest.mark.parametrize("fmt,given", [("%Y/%m/%d", None), ("%d/%m/%Y", None), ("%m-%d-%Y", None),
                                       ("%d %b %Y", None), ("%B %d, %Y", None), ("%Y/%m/%d %H:%M", None),
                                       ("%d.%m.%y", "when=%d.%m.%y")])
def test_a_date_in_another_format_is_the_same_feature_as_its_iso_twin(tmp_path, fmt, given):
    frame = dated()
    frame.assign(when=frame.when.dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "iso.csv", index=False)
    frame.assign(when=frame.when.dt.strftime(fmt)).to_csv(tmp_path / "other.csv", index=False)
    more = [f"data.dates=['{given}']"] if given else []
    same(matrix(tmp_path / "other.csv", *more, target="y"), matrix(tmp_path / "iso.csv", target="y"))
    exp = prepare(resolve(overrides=more, flags={"data.path": str(tmp_path / "other.csv"), "data.target": "y"}))
    assert exp.reading["dates"] == {"when": given.split("=")[1] if given else fmt}


def test_ambiguous_day_month_dates_are_refused_with_both_formats(tmp_path):
    frame = dated()
    frame = frame[frame.when.dt.day <= 12]
    frame.assign(when=frame.when.dt.strftime("%d/%m/%Y"), then=frame.when.dt.strftime("%m.%d.%Y")).to_csv(
        tmp_path / "amb.csv", index=False)
    line = refused(tmp_path, "--data", tmp_path / "amb.csv", "--target", "y")
    assert "column 'when' holds dates such as" in line and "column 'then' holds dates such as" in line  # both
    line = refused(tmp_path, "--data", tmp_path / "amb.csv", "--target", "y", "--drop", "then")
    assert "whose order of day and month no value shows: give it, --dates when=%d/%m/%Y or --dates " \
           "when=%m/%d/%Y" in line
    fix = shlex.split(re.search(r"give it, (--dates \S+)", line).group(1))
    result = invoke("sweep", "--data", tmp_path / "amb.csv", "--target", "y", "--drop", "then", *fix, *FAST,
                    "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_a_value_that_does_not_match_the_given_format_names_its_line(tmp_path):
    frame = dated().assign(when=lambda f: f.when.dt.strftime("%d.%m.%Y"))
    frame.loc[4, "when"] = "2012-31-31"
    frame.to_csv(tmp_path / "d.csv", index=False)
    line = refused(tmp_path, "--data", tmp_path / "d.csv", "--target", "y", "--dates", "when=%d.%m.%Y")
    assert "d.csv line 6: '2012-31-31' in column 'when' is not a date in the format '%d.%m.%Y'" in line
    assert "data.dates: column 'whn' not in d.csv (did you mean 'when'?)" in refused(
        tmp_path, "--data", tmp_path / "d.csv", "--target", "y", "--dates", "whn")
    assert "is not NAME or NAME=FORMAT" in refused(tmp_path, "--data", tmp_path / "d.csv", "--target", "y",
                                                   "--dates", "when=dd.mm")


# --- missing values ----------------------------------------------------------------------------------------------

def notes_table(n=120, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = iris_like(n, seed)
    frame["field notes"] = np.where(rng.random(n) < 0.85, None, "seen at dawn")
    frame.loc[rng.random(n) < 0.05, "sepalWidth"] = np.nan
    return frame


def test_na_drop_refuses_to_throw_most_rows_away_and_the_fix_it_prints_runs(tmp_path):
    frame = notes_table()
    path = tmp_path / "notes.csv"
    frame.to_csv(path, index=False)
    line = refused(tmp_path, "--data", path, "--target", "species")
    counts = frame.isna().sum()
    assert f"--na drop would remove {frame.isna().any(axis=1).sum()} of 120 rows" in line
    assert f"missing values: sepalWidth {counts['sepalWidth']}, field notes {counts['field notes']}" in line
    assert "--drop 'field notes' leaves out the mostly empty column" in line and "data.na_drop_limit" in line
    fix = shlex.split(re.search(r"(--drop '[^']+')", line).group(1))
    out = tmp_path / "run"
    result = invoke("sweep", "--data", path, "--target", "species", *fix, *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"missing values (of 120 rows): sepalWidth {counts['sepalWidth']}" in result.stderr
    missing = json.loads((out / "manifest.json").read_text())["data"]["missing_values"]
    assert missing["counts"] == {"sepalWidth": int(counts["sepalWidth"])}
    assert missing["rows_dropped"] == counts["sepalWidth"]
    raised = invoke("sweep", "--data", path, "--target", "species", "--set", "data.na_drop_limit=0.9", *FAST,
                    "--out", tmp_path / "raised", "-q")
    assert raised.exit_code == 0, raised.output


# --- classes -----------------------------------------------------------------------------------------------------

def with_rare(tmp_path) -> str:
    frame = iris_like()
    frame.loc[[3, 9], "species"] = ["emperor", "king"]
    frame.loc[17, "species"] = "king"
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_rare_classes_are_refused_dropped_or_merged_and_recorded(tmp_path):
    path = with_rare(tmp_path)
    line = refused(tmp_path, "--data", path, "--target", "species", "--set", "data.min_class_rows=3")
    assert "classes 'emperor' 1 row, 'king' 2 rows of target 'species' have fewer than data.min_class_rows = 3" in line
    assert "--set data.rare_classes=drop" in line and "--set data.rare_classes=merge" in line
    base = ["data.min_class_rows=3", "data.path=" + json.dumps(path), "data.target='species'"]
    dropped = prepare(resolve(overrides=[*base, "data.rare_classes='drop'"]))
    assert dropped.split.classes.tolist() == ["setosa", "versicolor", "virginica"]
    assert sum(len(r) for r in dropped.split.rows.values()) == 87
    merged = prepare(resolve(overrides=[*base, "data.rare_classes='merge'"]))
    assert merged.split.classes.tolist() == ["other", "setosa", "versicolor", "virginica"]
    assert np.sum(np.concatenate([merged.split.y_train, merged.split.y_test, merged.split.y_val]) == "other") == 3
    out = tmp_path / "run"
    result = invoke("sweep", "--data", path, "--target", "species", "--set", "data.min_class_rows=3", "--set",
                    "data.rare_classes=merge", *FAST, "--out", out)
    assert result.exit_code == 0 and "merged the rare classes 'emperor' 1 row, 'king' 2 rows" in result.stderr
    data = json.loads((out / "manifest.json").read_text())["data"]
    assert data["rare_classes"] == {"policy": "merge", "min_rows": 3, "rare": {"emperor": 1, "king": 2}}
    assert "gives a class 'other' of 1 rows" in refused(tmp_path, "--data", path, "--target", "species", "--set",
                                                         "data.min_class_rows=2", "--set", "data.rare_classes=merge")


def test_a_target_with_thousands_of_classes_is_refused_at_once(tmp_path):
    path = tmp_path / "many.csv"
    pd.DataFrame({"x": np.arange(6000.0), "y": np.arange(6000) % 5000}).to_csv(path, index=False)
    line = refused(tmp_path, "--data", path, "--target", "y", "--task", "classification")
    assert "has 5,000 classes, more than data.max_classes = 200: is it a number to predict? --task regression" in line


# --- every problem at once, fixes that paste -------------------------------------------------------------------

def test_every_id_like_column_is_named_in_one_message_and_the_fix_pastes(tmp_path):
    frame = iris_like(60)
    for k, name in enumerate(["id", "first name", "ticket", "cabin"]):
        frame[name] = [f"{name[:2]}{k}-{i}" for i in range(60)]
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    line = refused(tmp_path, "--data", path, "--target", "species")
    for name in ("'id'", "'first name'", "'ticket'", "'cabin'"):
        assert f"{name} has 60 distinct values in 60 rows (an ID or a name?)" in line
    assert "--drop 'id,first name,ticket,cabin'" in line
    fix = shlex.split(re.search(r"(--drop '[^']+')", line).group(1))
    result = invoke("sweep", "--data", path, "--target", "species", *fix, *FAST, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_a_column_name_with_a_comma_is_suggested_through_set(tmp_path):
    frame = iris_like(40).assign(**{"name, given": [f"n{i}" for i in range(40)]})
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    line = refused(tmp_path, "--data", path, "--target", "species")
    fix = shlex.split(re.search(r"(--set 'data.drop=\[[^']+\]')", line).group(1))
    result = invoke("sweep", "--data", path, "--target", "species", *fix, *FAST, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_every_unknown_column_is_named_at_once(tmp_path):
    iris_like().to_csv(tmp_path / "t.csv", index=False)
    line = refused(tmp_path, "--data", tmp_path / "t.csv", "--target", "species", "--features", "sepalwidth,prize",
                   "--drop", "nope")
    assert "data.features 'sepalwidth' (did you mean 'sepalWidth'?), data.features 'prize' (did you mean " \
           "'price'?), data.drop 'nope'" in line


# --- small or degenerate data ----------------------------------------------------------------------------------

def test_a_tiny_table_gets_warnings_naming_the_numbers(tmp_path):
    frame = iris_like(16, seed=3).assign(name=[f"n{i}" for i in range(16)])
    frame["species"] = np.repeat(["a", "b"], 8)
    path = tmp_path / "tiny.csv"
    frame.to_csv(path, index=False)
    result = invoke("sweep", "--data", path, "--target", "species", *FAST, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "warning: the split leaves 7 training, 3 validation and 6 test rows: with fewer than 10 in a part" \
        in result.stderr
    assert "warning: 10 feature columns (7 of them one-hot columns of text) for 7 training rows" in result.stderr
    iris_like(300).to_csv(tmp_path / "big.csv", index=False)
    big = invoke("sweep", "--data", tmp_path / "big.csv", "--target", "species", *FAST, "--out", tmp_path / "big")
    assert big.exit_code == 0 and "l2cli: warning:" not in big.stderr


# --- predict -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run on a table with an ID column left out, imputing missing values, and another that imputes none."""
    root = tmp_path_factory.mktemp("predict")
    frame = iris_like(120).assign(when=lambda f: (pd.Timestamp("2012-01-13") + pd.to_timedelta(f.index, "D"))
                                  .strftime("%d/%m/%Y"))
    frame.insert(0, "plant", [f"P{i:03d}" for i in range(120)])
    frame.loc[frame.index % 10 == 7, "sepalWidth"] = np.nan  # the mean run imputes, the drop run drops
    frame.to_csv(root / "plants.csv", index=False)
    runs = {}
    for na in ("mean", "drop"):
        out = root / f"run-{na}"
        result = invoke("sweep", "--data", root / "plants.csv", "--target", "species", "--drop", "plant", "--na",
                        na, *FAST, "--out", out, "-q")
        assert result.exit_code == 0, result.output
        runs[na] = out
    return root, frame, runs


def test_predict_carries_id_columns_through_and_reads_dates_as_the_run_did(trained, tmp_path):
    root, frame, runs = trained
    new = frame.drop(columns="species").head(6)
    new.to_csv(tmp_path / "new.csv", index=False)
    result = invoke("predict", runs["drop"], "--data", tmp_path / "new.csv", "--id", "plant", "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(table.columns[:2]) == ["plant", "predicted"] and table.plant.tolist() == new.plant.tolist()
    # the run saw a day above 12 (13/01/2012): the new rows' 01/02/2012 is read day first, as it was
    assert json.loads((runs["drop"] / "manifest.json").read_text())["data"]["dates"] == {"when": "%d/%m/%Y"}
    assert "--id plantt: not a column of new.csv (did you mean 'plant'?)" in refused(
        tmp_path, runs["drop"], "--data", tmp_path / "new.csv", "--id", "plantt", command="predict")


def test_predict_imputes_as_the_run_did_or_refuses_per_row(trained, tmp_path):
    root, frame, runs = trained
    new = frame.drop(columns="species").head(6).copy()
    new.loc[new.index[2], "sepalWidth"] = np.nan
    new.loc[new.index[4], "price"] = np.inf
    new.to_csv(tmp_path / "gaps.csv", index=False)
    imputed = invoke("predict", runs["mean"], "--data", tmp_path / "gaps.csv", "--id", "plant", "--on-error", "skip",
                     "--format", "csv")
    assert imputed.exit_code == 0, imputed.output
    assert pd.read_csv(pd.io.common.StringIO(imputed.stdout)).plant.tolist() == ["P000", "P001", "P002", "P003",
                                                                                 "P005"]
    assert "skipped 1 of 6 rows: gaps.csv line 6: a value of 'price' is not finite" in imputed.stderr
    line = refused(tmp_path, runs["drop"], "--data", tmp_path / "gaps.csv", command="predict")
    assert "gaps.csv line 4: missing value in 'sepalWidth', and the run imputed nothing (data.na) (--on-error skip " \
           "leaves such rows out); 2 such row(s)" in line
    skipped = invoke("predict", runs["drop"], "--data", tmp_path / "gaps.csv", "--id", "plant", "--on-error", "skip",
                     "--format", "csv")
    out = pd.read_csv(pd.io.common.StringIO(skipped.stdout))
    assert skipped.exit_code == 0 and out.plant.tolist() == ["P000", "P001", "P003", "P005"]
    probabilities = out.filter(like="p_").to_numpy()
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1)
    assert "skipped 2 of 6 rows: gaps.csv line 4: missing value in 'sepalWidth'" in skipped.stderr
    quiet = invoke("predict", runs["drop"], "--data", tmp_path / "gaps.csv", "--on-error", "skip", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --- Excel, Parquet and JSON Lines -----------------------------------------------------------------------------------

def as_jsonl(frame, path):
    """One JSON object a line, each number in its shortest round-trip form (as json.dumps writes it)."""
    import gzip
    import json

    rows = frame.assign(when=frame.when.dt.strftime("%Y-%m-%d")).to_dict("records")
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


@pytest.mark.parametrize("suffix,write", [(".xlsx", lambda f, p: f.to_excel(p, index=False)),
                                          (".parquet", lambda f, p: f.to_parquet(p, index=False)),
                                          (".jsonl", as_jsonl),
                                          pytest.param(".ndjson.gz", as_jsonl, marks=pytest.mark.slow)])  # ~0.5 s
def test_excel_parquet_and_json_lines_files_are_their_csv_twins(tmp_path, suffix, write):
    pytest.importorskip({".xlsx": "openpyxl", ".parquet": "pyarrow"}.get(suffix, "json"))
    frame = iris_like().assign(when=pd.to_datetime("2012-01-01") + pd.to_timedelta(np.arange(90), "D"))
    frame.assign(when=frame.when.dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "twin.csv", index=False)
    write(frame, tmp_path / f"t{suffix}")
    same(matrix(tmp_path / f"t{suffix}"), matrix(tmp_path / "twin.csv"))
    out = tmp_path / "run"
    result = invoke("sweep", "--data", tmp_path / f"t{suffix}", "--target", "species", *FAST, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    predicted = invoke("predict", out, "--data", tmp_path / "twin.csv", "--format", "csv")
    assert predicted.exit_code == 0 and len(predicted.stdout.strip().splitlines()) == 91
    verified = invoke("verify", out)
    assert verified.exit_code == 0, verified.output
    assert "data.encoding does not apply to t" in refused(tmp_path, "--data", tmp_path / f"t{suffix}", "--target",
                                                          "species", "--encoding", "latin-1")


def test_damaged_workbooks_and_old_formats_are_one_line(tmp_path):
    (tmp_path / "fake.xlsx").write_text("a,y\n1,0\n")
    assert "fake.xlsx is not an Excel workbook (.xlsx)" in refused(tmp_path, "--data", tmp_path / "fake.xlsx",
                                                                   "--target", "y")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    assert "old.xls is an Excel 97-2003 workbook (.xls): save it as .xlsx or .csv" in refused(
        tmp_path, "--data", tmp_path / "old.xls", "--target", "y")
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 not really")
    assert "cannot read fake.parquet as Parquet" in refused(tmp_path, "--data", tmp_path / "fake.parquet",
                                                            "--target", "y")


def test_a_missing_engine_names_the_extra_to_install(tmp_path, monkeypatch):
    import importlib

    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a: (_ for _ in ()).throw(ImportError(name)) if name == "openpyxl"
                        else real(name, *a))
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match=r"reading t.xlsx needs openpyxl: pip install 'l2cli\[excel\]'"):
        prepare(resolve(flags={"data.path": str(tmp_path / "t.xlsx"), "data.target": "y"}))


def test_a_json_lines_file_with_a_nested_value_or_a_broken_line_is_refused_in_one_line(tmp_path):
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"x": 1, "y": 0}\n{"x": {"deep": 2}, "y": 1}\n{"x": 3, "y": 0}\n')
    assert "column 'x' holds an object or a list on line 2" in refused(tmp_path, "--data", nested, "--target", "y")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"x": 1, "y": 0}\n{"x": 2, \n')
    assert "cannot read broken.jsonl as JSON Lines" in refused(tmp_path, "--data", broken, "--target", "y")
