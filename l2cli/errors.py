"""Errors with a one-line message for the person who made the command: the CLI prints the message on one line
and exits 2 (InputError: theirs to fix) or 1 (RunFailure: the run itself failed)."""


class InputError(ValueError):
    """A bad configuration value, option, data file or output location."""


class RunFailure(RuntimeError):
    """What was asked cannot give a trustworthy answer: a diverged model asked to predict, say."""
