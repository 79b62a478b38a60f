"""SHA256SUMS: the SHA-256 of every file l2cli wrote in a run directory, written last, in the format of
coreutils' sha256sum, so that ``sha256sum -c SHA256SUMS`` (or ``shasum -a 256 -c``) checks a run that travelled
(a CI artifact, a shared folder) without l2cli, and ``l2cli verify`` says which file was changed after it was
written. A file the run did not write (plot.png, say) is not in it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..errors import InputError
from .files import open_file

NAME = "SHA256SUMS"
#: one line per file: 64 hex digits, two spaces (text mode, as sha256sum writes), the file's name
LINE = re.compile(r"^([0-9a-f]{64})  ([A-Za-z0-9_.-]+)$")
#: the largest SHA256SUMS read (a few lines) and the largest file hashed (weights.npz of a large sweep)
MAX_BYTES, MAX_HASHED = 2**16, 2**40


def digest(path: Path) -> str:
    """The SHA-256 of a regular file of the run directory (read without following a link)."""
    h = hashlib.sha256()
    with open_file(path, MAX_HASHED) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text(run_dir: Path, names: list[str]) -> str:
    """The content of SHA256SUMS for the files ``names`` of ``run_dir``, sorted by name."""
    return "".join(f"{digest(run_dir / name)}  {name}\n" for name in sorted(names))


def changed(run_dir: Path, own: tuple[str, ...]) -> list[str]:
    """The files whose SHA-256 is not the one SHA256SUMS records (or that are gone), in its order; [] when it
    is absent (a run written before it was). An InputError when SHA256SUMS itself is not what l2cli writes:
    a line of another form, or a name that is not one of the run's own files (``own``)."""
    path = run_dir / NAME
    if not path.exists() and not path.is_symlink():
        return []
    with open_file(path, MAX_BYTES) as fh:
        lines = fh.read().decode("ascii", errors="replace").splitlines()
    out = []
    for k, line in enumerate(lines, 1):
        match = LINE.match(line)
        if match is None or match.group(2) not in own:
            raise InputError(f"{path}: line {k} is not '<sha256>  <file of the run>': not the {NAME} l2cli writes")
        try:
            same = digest(run_dir / match.group(2)) == match.group(1)
        except InputError:  # missing, a link, a device: not the file l2cli wrote
            same = False
        if not same:
            out.append(match.group(2))
    return out
