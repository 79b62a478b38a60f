"""A file written whole or not at all: the one atomic write every file l2cli leaves goes through."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_whole(path: str | Path, write: Callable[[Path], None],
                before_rename: Callable[[], None] | None = None) -> None:
    """Write ``path`` whole or not at all. ``write`` fills a new temporary file beside it, created here with
    O_EXCL and O_NOFOLLOW so that nothing is written through a link or into another file; its data reach the
    disk (fsync); it is renamed over ``path``, which replaces a link there instead of following it; and the
    directory is synced, so that the rename survives a crash. A write that fails (a full disk, a signal)
    leaves the old file, if any, and no temporary file. ``before_rename``: called between the two (the
    kill-and-resume tests' fault points)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)  # a stale one of a crashed process with this pid (a link is removed, not followed)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))
        write(tmp)
        sync(tmp)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
        sync(path.parent, directory=True)
    finally:
        tmp.unlink(missing_ok=True)


def sync(path: Path, directory: bool = False) -> None:
    """fsync a file, or a directory's entries (where the platform allows it)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # a directory that cannot be opened for reading still keeps the rename, if not its fsync
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)
