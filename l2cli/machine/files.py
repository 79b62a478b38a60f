"""A file written whole or not at all, and never through a link: the one write path of every file l2cli leaves.

Inside a run directory nothing is followed: each directory between the run's root and the file is opened with
O_NOFOLLOW relative to the one above it (a link there is refused, never entered), the file is created with
O_EXCL | O_NOFOLLOW in the directory so opened, and renamed over its name there (which replaces a link at that
name instead of writing through it)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


class LinkRefused(OSError):
    """A symbolic link (or a non-directory) where a run directory has a folder: never followed."""


def open_directory(root: str | Path, relative: str | Path = "", create: bool = False) -> int:
    """A descriptor of ``root/relative``, each folder below ``root`` opened without following a link (and
    created first when ``create``); LinkRefused names the first one that is a link or not a directory. The
    caller closes it."""
    root = Path(root)
    fd = os.open(root, DIRECTORY)
    reached = root
    try:
        for part in Path(relative).parts:
            reached = reached / part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                inner = os.open(part, DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise LinkRefused(exc.errno, "a symbolic link or a file where a folder of the run directory "
                                                 "goes: l2cli does not follow links in a run directory",
                                      str(reached)) from None
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_directories(root: str | Path, relative: str | Path) -> Path:
    """``root/relative`` created where missing, with no link on the way below ``root`` (LinkRefused)."""
    os.close(open_directory(root, relative, create=True))
    return Path(root) / relative


def write_whole(path: str | Path, write: Callable[[BinaryIO], None],
                before_rename: Callable[[], None] | None = None, root: str | Path | None = None) -> None:
    """Write ``path`` whole or not at all. ``write`` fills a new temporary file (a binary file object) beside
    it, created here with O_EXCL and O_NOFOLLOW so that nothing is written through a link or into another
    file; its data reach the disk (fsync); it is renamed over ``path``, which replaces a link there instead
    of following it; and the directory is synced, so that the rename survives a crash. ``root``: the run
    directory ``path`` is inside: no folder between the two may be a link (default: path's own folder). A
    write that fails (a full disk, a signal) leaves the old file, if any, and no temporary file.
    ``before_rename``: called between the two (the kill-and-resume tests' fault points)."""
    path = Path(path)
    root = path.parent if root is None else Path(root)
    directory = open_directory(root, path.parent.relative_to(root), create=True)
    name, tmp = path.name, f".{path.name}.tmp-{os.getpid()}"
    try:
        _unlink(tmp, directory)  # a stale one of a crashed process with this pid (a link is removed, not followed)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=directory)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
        with contextlib.suppress(OSError):  # a directory whose entries cannot be synced still keeps the rename
            os.fsync(directory)
    except OSError as exc:  # a full disk while writing: say which file (a file object's error names none)
        if exc.filename is None or isinstance(exc.filename, int):
            exc.filename = str(path)
        raise
    finally:
        _unlink(tmp, directory)
        os.close(directory)


def _unlink(name: str, directory: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=directory)


def text(content: str) -> Callable[[BinaryIO], None]:
    """A ``write`` for write_whole: ``content`` as UTF-8."""
    return lambda fh: fh.write(content.encode("utf-8"))
