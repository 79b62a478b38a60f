"""Errors that are the user's to fix: the CLI prints their message on one line and exits 2."""


class InputError(ValueError):
    """A bad configuration value, option, data file or output location."""
