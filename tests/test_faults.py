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
from conftest import flags, invoke

QUICK = ["--hidden", "4", "--epochs", "4", "--lambdas", "0,0.1", "--seeds", "0,1"]
FORMATS = ("table", "csv", "tsv", "json", "ndjson", "markdown")
PAGE = 4096


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp("pristine") / "run"
    result = invoke("sweep", *QUICK, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


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


def one_fault_line(done: subprocess.CompletedProcess, text="no space left on the device", lines_before=0):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 + lines_before and text in lines[-1] \
        and "Traceback" not in done.stderr, (done.returncode, done.stderr)


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
    for name, args in writing_commands(run, rows).items():
        for fmt in FORMATS:
            extra = ["--out", str(tmp_path / f"new-{fmt}")] if name == "sweep" else []
            done = full_tmpfs(tmp_path / "disk", [*L2CLI, *args, *extra, "--format", fmt], free_pages=0)
            assert done.returncode != 0, (name, fmt)
            one_fault_line(done, lines_before=name == "verify")  # verify's note: summary.csv was changed
    # plot prints the picture's path, and writes the picture itself where -o says
    one_fault_line(full_tmpfs(tmp_path / "disk", [*L2CLI, "plot", str(run), "--panel", "losses"], free_pages=0))
    done = full_tmpfs(tmp_path / "disk", ["sh", "-c", '"$@" -o "$(dirname "$OUT")/p.png" > /dev/null; '
                                                    'echo $? >&2; ls -a "$(dirname "$OUT")" >&2', "sh",
                                          *L2CLI, "plot", str(run), "--panel", "losses"], free_pages=0)
    assert done.stderr.splitlines()[1] == "2" and "p.png" not in done.stderr and ".p.png" not in done.stderr, \
        done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_output_that_fills_the_disk_midway_is_an_error_not_a_short_file(pristine, tmp_path, fmt):
    """The disk has one page left: the first write is short (Python's text layer would drop the rest)."""
    import numpy as np
    import pandas as pd

    rows = tmp_path / "big.csv"
    pd.DataFrame(np.random.default_rng(0).standard_normal((3000, 2)), columns=["x0", "x1"]).to_csv(rows, index=False)
    args = ["predict", str(pristine), "--data", str(rows), "--format", fmt]
    assert len(invoke(*args).stdout) > 10 * PAGE
    one_fault_line(full_tmpfs(tmp_path / "disk", [*L2CLI, *args], free_pages=1))


# --- links: nothing inside a run directory is written through one ------------------------------------------------

@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run killed after its first finished chunk: a progress folder with a plan, chunks and checkpoints."""
    import signal

    out = tmp_path_factory.mktemp("interrupted") / "run"
    proc = subprocess.run([*L2CLI, "sweep", *QUICK, "--set", "sweep.chunk_size=1", "--set", "sweep.workers=1",
                           "--set", "sweep.checkpoint_s=0", "--out", str(out), "-q"],
                          env={**os.environ, "L2CLI_FAULT": "chunk-write:2"}, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL and (out / ".progress" / "plan.json").is_file()
    assert any((out / ".progress" / "checkpoints").iterdir()) and any((out / ".progress" / "chunks").iterdir())
    return out


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
