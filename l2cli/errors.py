"""Errors with a one-line message for the person who made the command: the CLI prints the message on one line
and exits 2 (InputError: theirs to fix) or 1 (RunFailure: the run itself failed)."""


class InputError(ValueError):
    """A bad configuration value, option, data file or output location."""


class RunFailure(RuntimeError):
    """What was asked cannot give a trustworthy answer: a diverged model asked to predict, say."""


#: What a fault of the system means for the person, by errno name.
FAULTS = {"ENOSPC": "no space left on the device: free some and try again",
          "EDQUOT": "the disk quota is exceeded: free some space and try again",
          "EROFS": "the file system is read-only",
          "EACCES": "permission denied",
          "EPERM": "operation not permitted",
          "ENAMETOOLONG": "a file name is longer than the file system allows (255 bytes a name)",
          "EMFILE": "too many open files",
          "EIO": "an input/output error of the device",
          "EFBIG": "the file would be larger than the file system or its limit allows"}


def describe_os_error(exc: OSError) -> str:
    """One line for a fault of the system (a full disk, a read-only or forbidden place, a name too long)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{FAULTS.get(name, exc.strerror or str(exc))}"


def is_system_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the system l2cli reports in one line, rather than a defect of l2cli."""
    import errno

    return isinstance(exc, OSError) and errno.errorcode.get(exc.errno or 0, "") in FAULTS
