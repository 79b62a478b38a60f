"""The faults that must never pass silently: output cut short, a write through a link, an input that expands past
memory. Each test asserts the exit code, one stderr line without a traceback, and that nothing was lost or
written astray."""

import errno
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QUICK, flags, invoke

FORMATS = ("table", "csv", "tsv", "json", "ndjson", "markdown")
PAGE = 4096




# --- stdout: a write is whole or the command fails -------------------------------------------------------------

class ShortWrites(io.RawIOBase):
    """A stream that takes at most ``room`` bytes in all, in short writes, then fails as a full disk does."""

    def __init__(self, room: int):
        self.room, self.taken = room, bytearray()

    def writable(self):
        return True

    def write(self, data):
        if self.room == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self.room, 1000)
        self.taken += bytes(data[:n])
        self.room -= n
        return n


@pytest.mark.parametrize("room", [0, 10, 2500])
def test_a_short_or_failed_write_of_stdout_raises_and_one_that_fits_is_whole(room):
    from l2cli.cli.app import Everything

    text = "".join(f"row {k}\n" for k in range(400))
    stream = io.TextIOWrapper(Everything(io.BufferedWriter(ShortWrites(room))), encoding="utf-8", write_through=True)
    with pytest.raises(OSError) as caught:
        stream.write(text)
        stream.flush()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == "stdout"
    target = ShortWrites(10**6)
    stream = io.TextIOWrapper(Everything(target), encoding="utf-8", write_through=True)
    stream.write(text)
    assert target.taken.decode() == text


def full_tmpfs(directory: Path, command: list[str], free_pages: int, timeout=300) -> subprocess.CompletedProcess:
    """Run ``command`` with its stdout on a file of a tmpfs mounted at ``directory`` (in a mount namespace of
    its own: no root needed) that has ``free_pages`` pages of room left."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a tmpfs in a namespace")
    size = 64
    script = ('mount -t tmpfs -o size="$1"k tmpfs "$2" || exit 99; '
              'head -c "$3" /dev/zero > "$2/fill" 2>/dev/null; shift 3; exec "$@" > "$OUT"')
    directory.mkdir(exist_ok=True)
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
                           str(size * PAGE // 1024), str(directory), str((size - free_pages) * PAGE), *command],
                          env={**os.environ, "OUT": str(directory / "out")}, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode == 99 or "unshare failed" in done.stderr:
        pytest.skip(f"this machine does not allow a tmpfs in a namespace: {done.stderr.strip()}")
    return done


#: Runs many commands in one process, each with sys.stdout a file of the full tmpfs: [(exit code, stderr)]
DRIVER = """
import io, json, sys
from l2cli.cli import cli
cases, out, results = json.load(open(sys.argv[1])), sys.argv[2], []
for args in cases:
    err, saved = io.StringIO(), (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = open(out, "w"), err
    try:
        cli.main(args, prog_name="l2cli")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        code, _ = -1, err.write(repr(exc))
    finally:
        try:
            sys.stdout.close()
        except OSError:
            pass
        sys.stdout, sys.stderr = saved
    results.append((code, err.getvalue()))
json.dump(results, open(sys.argv[3], "w"))
"""


def full_tmpfs_in_one_process(directory: Path, cases: list[list[str]], free_pages: int = 0) -> list[tuple[int, str]]:
    """Each command of ``cases`` run in one Python process (l2cli's own CLI, in process) with its stdout a file
    on a full tmpfs mounted at ``directory``: [(exit code, stderr)]."""
    import json

    (directory.parent / "driver.py").write_text(DRIVER)
    (directory.parent / "cases.json").write_text(json.dumps(cases))
    results = directory.parent / "results.json"
    done = full_tmpfs(directory, [sys.executable, str(directory.parent / "driver.py"),
                                  str(directory.parent / "cases.json"), str(directory / "out"), str(results)],
                      free_pages=free_pages, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(results.read_text())


def one_fault_line(done: subprocess.CompletedProcess, text="no space left on the device", lines_before=0):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 + lines_before and text in lines[-1] \
        and "Traceback" not in done.stderr, (done.args, done.returncode, done.stderr)


L2CLI = [sys.executable, "-m", "l2cli"]


def writing_commands(run: Path, rows: Path) -> dict[str, list[str]]:
    """Every command that prints, with arguments that make it print something."""
    return {"show": ["show", str(run)], "show --history": ["show", str(run), "--history"],
            "show --aggregate": ["show", str(run), "--aggregate"],
            "predict": ["predict", str(run), "--data", str(rows)],
            "runs": ["runs", str(run.parent)], "diff": ["diff", str(run), str(run), "--all"],
            "verify": ["verify", str(run.parent / "changed")], "datasets": ["datasets"],
            "gradcheck": ["gradcheck", "--rows", "4"],
            "sweep": ["sweep", *flags(QUICK, "--seeds", "0"), "-q"]}


@pytest.mark.slow
def test_every_command_and_format_fails_in_one_line_on_a_full_disk(pristine, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n")
    run = tmp_path / "runs" / "run"
    shutil.copytree(pristine, run)
    changed = run.parent / "changed"  # verify prints a table only when something differs
    shutil.copytree(pristine, changed)
    import pandas as pd

    summary = pd.read_csv(changed / "summary.csv")
    summary["train_loss"] *= 1.01
    summary.to_csv(changed / "summary.csv", index=False)
    cases = {(name, fmt): [*args, *(["--out", str(tmp_path / f"new-{fmt}")] if name == "sweep" else []),
                           "--format", fmt]
             for name, args in writing_commands(run, rows).items() for fmt in FORMATS}
    results = full_tmpfs_in_one_process(tmp_path / "disk", list(cases.values()))
    for (name, fmt), (code, err) in zip(cases, results, strict=True):
        one_fault_line(subprocess.CompletedProcess([name, fmt], code, "", err), lines_before=name == "verify")
    # and as a process of its own, whose stdout is the file descriptor the shell redirected
    one_fault_line(full_tmpfs(tmp_path / "disk", [*L2CLI, *writing_commands(run, rows)["show"]], free_pages=0))
    # plot prints the picture's path, and writes the picture itself where -o says
    one_fault_line(full_tmpfs(tmp_path / "disk", [*L2CLI, "plot", str(run), "--panel", "losses"], free_pages=0))
    done = full_tmpfs(tmp_path / "disk", ["sh", "-c", '"$@" -o "$(dirname "$OUT")/p.png" > /dev/null; '
                                                    'echo $? >&2; ls -a "$(dirname "$OUT")" >&2', "sh",
                                          *L2CLI, "plot", str(run), "--panel", "losses"], free_pages=0)
    lines = done.stderr.splitlines()
    assert "no space left on the device" in lines[0] and lines[1] == "2", done.stderr
    assert sorted(lines[2:]) == [".", "..", "fill", "out"], done.stderr  # no picture, whole or partial


@pytest.mark.slow
def test_output_that_fills_the_disk_midway_is_an_error_not_a_short_file(pristine, tmp_path):
    """The disk has one page left: the first write is short (Python's text layer would drop the rest)."""
    import numpy as np
    import pandas as pd

    rows = tmp_path / "big.csv"
    pd.DataFrame(np.random.default_rng(0).standard_normal((3000, 2)), columns=["x0", "x1"]).to_csv(rows, index=False)
    cases = [["predict", str(pristine), "--data", str(rows), "--format", fmt] for fmt in FORMATS]
    assert all(len(invoke(*args).stdout) > 10 * PAGE for args in cases)
    for code, err in full_tmpfs_in_one_process(tmp_path / "disk", cases, free_pages=1):
        one_fault_line(subprocess.CompletedProcess([], code, "", err))
    one_fault_line(full_tmpfs(tmp_path / "disk", [*L2CLI, *cases[1]], free_pages=1))


# --- links: nothing inside a run directory is written through one ------------------------------------------------



def snapshot(place: Path) -> dict:
    """Every path below ``place`` with its bytes (a folder: None), links not followed."""
    return {str(p.relative_to(place)): None if p.is_dir() else p.read_bytes() for p in sorted(place.rglob("*"))}


def plant(run: Path, name: str, outside: Path) -> None:
    """A link at ``run/name`` to a file or folder outside the run that stands for what the name holds."""
    path = run / name
    target = outside / ("folder" if path.is_dir() else "file")
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    os.symlink(target, path)


def links_case(tmp_path: Path, base: Path, name: str) -> tuple[Path, Path]:
    case = tmp_path / name.replace("/", "_")
    shutil.rmtree(case, ignore_errors=True)
    run, outside = case / "run", case / "outside"
    shutil.copytree(base, run, symlinks=True)
    (outside / "folder").mkdir(parents=True)
    (outside / "folder" / "kept.txt").write_bytes(b"outside, in a folder")
    (outside / "file").write_bytes(b"outside, a file")
    plant(run, name, outside)
    return run, outside


def written_nowhere_outside(result, outside: Path, before: dict, what):
    assert result.exit_code in (0, 1, 2), (what, result.output)
    assert "Traceback" not in result.output and (result.exception is None
                                                 or isinstance(result.exception, SystemExit)), \
        (what, result.output, repr(result.exception))
    assert snapshot(outside) == before, what


@pytest.mark.slow
@pytest.mark.parametrize("source", ["finished", "interrupted"])
def test_a_link_at_any_path_of_a_run_directory_is_never_written_through(tmp_path, pristine, interrupted, source):
    base = pristine if source == "finished" else interrupted
    names = sorted(str(p.relative_to(base)) for p in base.rglob("*"))
    names += [f".weights.npz.tmp-{os.getpid()}", "plot.png"]  # names l2cli is about to write
    if source == "interrupted":
        chunk = sorted((base / ".progress" / "chunks").iterdir())[-1].name
        names += [f".progress/chunks/{chunk.replace('-0.', '-3.')}", ".progress/checkpoints/c0-all-3.npz"]
    commands = {"--resume": ["sweep", "--resume", "--out", "{run}", "-q"],
                "--overwrite": ["sweep", *QUICK, "--overwrite", "--out", "{run}", "-q"],
                "sweep": ["sweep", *QUICK, "--out", "{run}", "-q"],
                "plot": ["plot", "{run}", "--panel", "losses"], "verify": ["verify", "{run}", "-q"]}
    for name in names:
        for label, command in commands.items():
            run, outside = links_case(tmp_path, base, name)
            before = snapshot(outside)
            result = invoke(*[a.format(run=run) for a in command])
            written_nowhere_outside(result, outside, before, (source, name, label))
            if (run / name).is_symlink() and result.exit_code == 0 and label != "verify":
                assert os.readlink(run / name) != str(outside), (source, name, label)


# --- inputs that expand: refused before the parse, in bounded time and memory ---------------------------------------

WORKBOOK_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.'
    'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'}


def workbook(path: Path, rows: int, cell=lambda i, j: b"1.5") -> Path:
    """An .xlsx of a header (a, b, c, y) and ``rows`` rows, its sheet XML streamed into the archive."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in WORKBOOK_PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                        b'spreadsheetml/2006/main"><sheetData><row>'
                        + b"".join(b'<c t="inlineStr"><is><t>%s</t></is></c>' % n for n in (b"a", b"b", b"c", b"y"))
                        + b"</row>")
            block = []
            for i in range(rows):
                block.append(b"<row>" + b"".join(b"<c><v>%s</v></c>" % cell(i, j) for j in range(4)) + b"</row>")
                if len(block) == 10_000:
                    sheet.write(b"".join(block))
                    block = []
            sheet.write(b"".join(block) + b"</sheetData></worksheet>")
    return path


def refused_fast(tmp_path, data: Path, text: str, limit_gib: float = 4):
    """``sweep --data data`` under an address-space limit: one line containing ``text``, exit 2, in seconds."""
    import resource
    import time

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (int(limit_gib * 2**30),) * 2)

    start = time.monotonic()
    done = subprocess.run([*L2CLI, "sweep", "--data", str(data), "--target", "y", "--out", str(tmp_path / "never"),
                           "-q"], capture_output=True, text=True, timeout=60, preexec_fn=limit)
    elapsed = time.monotonic() - start
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and text in lines[0], done.stderr
    assert elapsed < 20, elapsed
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm"])
def test_a_workbook_that_expands_a_thousandfold_is_refused_before_it_is_parsed(tmp_path, suffix):
    bomb = workbook(tmp_path / f"bomb{suffix}", 1_200_000)  # ~90 MB of XML in under 1 MB
    assert bomb.stat().st_size < 2**20
    refused_fast(tmp_path, bomb, "over 100 times")


@pytest.mark.slow
def test_a_workbook_over_the_xml_budget_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import l2cli.data.budget

    rng = __import__("numpy").random.default_rng(0)
    values = [b"%.15f" % v for v in rng.random(4000)]
    book = workbook(tmp_path / "big.xlsx", 6000, cell=lambda i, j: values[(4 * i + j) % 4000])
    monkeypatch.setattr(l2cli.data.budget, "MAX_EXCEL_XML", 2**19)
    result = invoke("sweep", "--data", book, "--target", "y", "--out", tmp_path / "never", "-q")
    assert result.exit_code == 2 and "MiB of XML, more than the 0.5 MiB" in result.stderr, result.output
    monkeypatch.setattr(l2cli.data.budget, "MAX_EXCEL_XML", 2**30)
    monkeypatch.setattr(l2cli.data.budget, "EXCEL_BYTES_PER_XML_BYTE", 2**40)
    result = invoke("sweep", "--data", book, "--target", "y", "--out", tmp_path / "never", "-q")
    assert result.exit_code == 2 and "GiB of memory" in result.stderr, result.output


@pytest.mark.slow
def test_a_gzip_that_expands_past_its_budget_is_refused_while_it_streams(tmp_path):
    import gzip

    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(b"a,b,c,y\n")
        line = b"0,0,0,1\n" * 100_000
        for _ in range(500):  # 400 MB of text in about 0.4 MB
            fh.write(line)
    refused_fast(tmp_path, bomb, "over 100 times its compressed size")


@pytest.mark.slow
def test_a_parquet_file_whose_text_decodes_past_memory_is_refused_batch_by_batch(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 400_000  # one 20 kB text repeated: a file of kilobytes that decodes to 8 GB
    column = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["x" * 20_000]))
    pq.write_table(pa.table({"a": column, "y": pa.array([1.0] * n)}), tmp_path / "text.parquet",
                   row_group_size=n, store_schema=False)  # without Arrow's schema, it is read back as plain text
    assert (tmp_path / "text.parquet").stat().st_size < 2**20
    refused_fast(tmp_path, tmp_path / "text.parquet", "decodes to more than")


def test_a_parquet_file_of_more_rows_than_memory_is_refused_from_its_metadata(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import l2cli.data.source

    pq.write_table(pa.table({"a": [0.5] * 100_000, "y": [1.0] * 100_000}), tmp_path / "rows.parquet")
    monkeypatch.setattr(l2cli.data.source, "memory_budget", lambda: 2**20)
    result = invoke("sweep", "--data", tmp_path / "rows.parquet", "--target", "y", "--out", tmp_path / "x", "-q")
    assert result.exit_code == 2 and "100,000 rows of 2 columns) needs about" in result.stderr, result.output


def test_parquet_struct_list_and_map_columns_are_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, column in {"s": pa.array([{"u": 1}, {"u": 2}] * 10), "l": pa.array([[1, 2], [3]] * 10),
                         "m": pa.array([[("k", 1)], [("k", 2)]] * 10, pa.map_(pa.string(), pa.int64()))}.items():
        pq.write_table(pa.table({name: column, "y": [0.0, 1.0] * 10}), tmp_path / f"{name}.parquet")
        for args in (["sweep", "--data", tmp_path / f"{name}.parquet", "--target", "y", "--out", tmp_path / "x"],):
            result = invoke(*args, "-q")
            assert result.exit_code == 2 and f"column '{name}' holds structs, lists or maps" in result.stderr, \
                result.output


@pytest.mark.slow
def test_sigterm_during_a_slow_parse_ends_it_with_143_in_seconds(tmp_path):
    import signal
    import time

    rng = __import__("numpy").random.default_rng(0)
    values = [b"%.15f" % v for v in rng.random(40_000)]
    book = workbook(tmp_path / "slow.xlsx", 150_000, cell=lambda i, j: values[(4 * i + j) % 40_000])
    proc = subprocess.Popen([*L2CLI, "sweep", "--data", str(book), "--target", "y", "--out", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    assert proc.poll() is None, "the parse ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and time.monotonic() - start < 10 and "Traceback" not in err, err


# --- hostile run-directory content: every field a reader takes is checked first --------------------------------

def edit_json(path: Path, change):
    import json

    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def one_line(result, code=2, text=""):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code and len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, \
        (result.exit_code, result.output)
    return lines[0]


@pytest.fixture
def run(tmp_path, pristine):
    out = tmp_path / "runs" / "run"
    shutil.copytree(pristine, out)
    return out


ENVIRONMENTS = {"a kernel name of 3 MB": lambda e: e["blas"][0].update(kernel="A" * 3_000_000),
                "a kernel name with a NUL byte": lambda e: e["blas"][0].update(kernel="Has\x00well"),
                "a dispatch target with a space": lambda e: e["numpy"].update(dispatch=["X86_V3 X86_V4"]),
                "a list of blas that are numbers": lambda e: e.update(blas=[1, 2]),
                "a variable named with a NUL": lambda e: e["variables"].update({"A\x00": "b"})}


@pytest.mark.parametrize("change", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_a_hostile_environment_record_is_one_line_for_verify_and_show(run, change):
    edit_json(run / "manifest.json", lambda d: change(d["environment"]))
    for args in (["verify", run, "-q"], ["show", run, "--environment"]):
        one_line(invoke(*args), 2, "manifest.json: environment:")


def test_an_environment_that_is_a_list_and_a_started_that_is_a_number_are_one_line(run):
    edit_json(run / "manifest.json", lambda d: d.update(environment=[1, 2]))
    one_line(invoke("verify", run, "-q"), 2, "environment: it is not an object")
    shutil.copytree(run, run.parent / "other")
    edit_json(run.parent / "other" / "manifest.json", lambda d: d.update(environment={}, started=12))
    result = invoke("runs", run.parent)
    assert result.exit_code == 0 and result.stdout.count("\n") == 2, result.output  # a header, a rule, no run
    assert sorted(result.stderr.strip().splitlines()) == [
        f"l2cli: other left out: {run.parent / 'other'}/manifest.json: started is not text: not a manifest l2cli "
        "wrote, or a damaged one",
        f"l2cli: run left out: {run}/manifest.json: environment: it is not an object: not a manifest l2cli wrote, "
        "or a damaged one"]


def test_a_manifest_that_links_to_a_device_is_named_as_such(run):
    (run / "manifest.json").unlink()
    os.symlink("/dev/zero", run / "manifest.json")
    one_line(invoke("show", run), 2, "is not a regular file (a link, FIFO or device)")


def test_a_selected_lambda_the_summary_lacks_is_a_damaged_selection_not_an_option(run, tmp_path):
    edit_json(run / "selection.json", lambda d: d.update({"lambda": 0.5}))
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n0.1,0.2\n")
    line = one_line(invoke("predict", run, "--data", rows), 2, "selection.json: the selected λ 0.5 is not a λ")
    assert "--lambda 0.5" not in line


def test_cpuinfo_calls_sse3_pni(tmp_path):
    from l2cli.machine.environment import cpu, lacking

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Old CPU\nflags\t\t: fpu pni ssse3\n")
    flags = cpu(str(info))["vector_extensions"]
    assert flags == ["sse3", "ssse3"] and lacking("Prescott", flags) == []


@pytest.mark.slow
def test_nan_weights_leave_the_curvature_panel_drawable(tmp_path):
    import numpy as np

    out = tmp_path / "run"
    assert invoke("sweep", "--hidden", "4", "--lambdas", "0.01,0.1", "--seeds", "0", "--optimizer", "lbfgs",
                  "--out", out, "-q").exit_code == 0
    arrays = dict(np.load(out / "weights.npz"))
    arrays["W1"] = arrays["W1"] * np.nan
    np.savez(out / "weights.npz", **arrays)
    result = invoke("plot", out, "--panel", "curvature")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output


@pytest.mark.slow
@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("layouts"), "layouts is missing or not list"),
    (lambda d: d["layouts"][0].update(chunk_size="x"), "layouts[0] has no chunk_size"),
    (lambda d: d["layouts"][0].update(engine="nope"), "sweep.engine"),
    (lambda d: d["layouts"][0].update(memory_mb=-1), "sweep.memory_mb"),
    (lambda d: d.update(fingerprints=5), "fingerprints is missing or not list"),
    (lambda d: d.update(resumed="x"), "resumed is missing or not list"),
    (lambda d: d.update(layouts=[]), "one layout and one fingerprint for each of the 1 grid cells")])
def test_a_damaged_plan_is_one_line_on_resume(interrupted, tmp_path, change, message):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    edit_json(run / ".progress" / "plan.json", change)
    one_line(invoke("sweep", "--resume", "--out", run, "-q"), 2, message)


@pytest.mark.slow
def test_an_edited_chunk_size_on_resume_retrains_the_chunks_that_do_not_fit(interrupted, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    edit_json(run / ".progress" / "plan.json", lambda d: d["layouts"][0].update(chunk_size=3))
    result = invoke("sweep", "--resume", "--out", run, "-q")
    assert result.exit_code == 0 and "it trains again from its seeds" in result.stderr, result.output
    assert "Traceback" not in result.output


# --- hostile options and data --------------------------------------------------------------------------------------

@pytest.fixture
def table(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"a": rng.normal(size=n), "colour": rng.choice(["1", "2", "red"], n),
                          "day": pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
                          "y": rng.integers(0, 2, n)})
    frame.to_csv(tmp_path / "table.csv", index=False)
    return tmp_path / "table.csv"


@pytest.mark.parametrize("codec", ["rot13", "base64", "zlib", "hex", "uu"])
def test_a_codec_that_is_not_a_text_encoding_is_one_line(table, tmp_path, codec):
    one_line(invoke("sweep", "--data", table, "--target", "y", "--encoding", codec, "--out", tmp_path / "r", "-q"),
             2, "not a text encoding")


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_config_file_that_is_a_device_or_a_fifo_is_refused_at_once(tmp_path, kind):
    path = "/dev/zero" if kind == "device" else str(tmp_path / "fifo")
    if kind == "fifo":
        os.mkfifo(path)
    done = subprocess.run([*L2CLI, "sweep", path, "--out", str(tmp_path / "r")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "is not a regular file" in done.stderr and len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1e-170, 1e170])
def test_features_float64_cannot_standardize_are_refused_not_flattened(tmp_path, scale):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=60) * scale, "z": rng.normal(size=60), "y": rng.integers(0, 2, 60)}).to_csv(
        tmp_path / "t.csv", index=False)
    one_line(invoke("sweep", "--data", tmp_path / "t.csv", "--target", "y", "--out", tmp_path / "r", "-q"), 2,
             "column 'x': its values")


def test_thousands_separators_must_group_by_threes(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a;y\n1.2.3;0\n" + "".join(f"{k}.000,5;{k % 2}\n" for k in range(1, 40)))
    one_line(invoke("sweep", "--data", bad, "--target", "y", "--thousands", ".", "--decimal", ",", "--out",
                    tmp_path / "r", "-q"), 2, "bad.csv line 2: '1.2.3' in column 'a' is not a number grouped by threes")
    from l2cli.data.source import ReadOptions, read_frame

    good = tmp_path / "good.csv"
    good.write_text("a;y\n1.234.567,5;0\n-12;1\n,5;0\n1234;1\n")
    frame = read_frame(good, ReadOptions("auto", "utf-8", ",", ".", ""))
    assert frame["a"].tolist() == [1234567.5, -12.0, 0.5, 1234.0]


def test_a_tolerance_for_a_column_verify_does_not_compare_is_refused(run):
    one_line(invoke("verify", run, "--level", "numbers", "--tol", "val_los=1e-6"), 2, "did you mean 'val_loss'?")


def test_predict_reads_numbers_in_a_text_column_as_their_categories_and_skips_unreadable_dates(table, tmp_path):
    out = tmp_path / "r"
    assert invoke("sweep", "--data", table, "--target", "y", "--dates", "day", "--lambdas", "0.01", "--seeds", "0",
                  "--epochs", "3", "--out", out, "-q").exit_code == 0
    numbers, text = tmp_path / "numbers.csv", tmp_path / "text.csv"
    numbers.write_text("a,colour,day\n0.1,1,2020-01-05\n0.2,2,2020-01-06\n")
    text.write_text("a,colour,day\n0.1,1,2020-01-05\n0.2,red,2020-01-06\n")
    as_numbers, as_text = invoke("predict", out, "--data", numbers), invoke("predict", out, "--data", text)
    assert as_numbers.exit_code == 0 and as_numbers.stdout.splitlines()[2] == as_text.stdout.splitlines()[2]
    dates = tmp_path / "dates.csv"
    dates.write_text("a,colour,day\n0.1,red,not a date\n0.2,red,2020-01-06\n")
    one_line(invoke("predict", out, "--data", dates), 2, "dates.csv line 2: 'not a date' in column 'day'")
    skipped = invoke("predict", out, "--data", dates, "--on-error", "skip", "--format", "csv")
    assert skipped.exit_code == 0 and len(skipped.stdout.splitlines()) == 2, skipped.output
    assert "skipped 1 of 2 rows: dates.csv line 2: 'not a date'" in skipped.stderr


@pytest.mark.slow
def test_a_portable_run_verifies_exactly_under_another_kernel_and_on_dask(tmp_path):
    out = tmp_path / "portable"
    done = subprocess.run([*L2CLI, "sweep", *QUICK, "--portable", "--out", str(out), "-q"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for mode in ("native", "recorded"):
        done = subprocess.run([*L2CLI, "verify", str(out), "--environment", mode], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"})
        assert done.returncode == 0 and "level exact holds" in done.stderr, (mode, done.stderr)
    dask = tmp_path / "dask"
    done = subprocess.run([*L2CLI, "sweep", *QUICK, "--portable", "--executor", "dask", "--out", str(dask), "-q"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import numpy as np

    a, b = np.load(out / "weights.npz"), np.load(dask / "weights.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k != "network")
