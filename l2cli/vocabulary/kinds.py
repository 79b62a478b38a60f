"""The kinds of value a config key allows, each with its check and its error message.

A leaf module: the config schema (l2cli.config) and the optimizers' declarations of their hyper-parameters
(l2cli.optim) both declare keys with these kinds, without importing numpy.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InputError
from .grid import check_lambdas, parse_grid


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def suggest(word: str, options) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Kind:
    """The values a key allows; ``check`` returns the value in canonical form or raises InputError."""

    def check(self, key: str, value: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def fail(key: str, expected: str, value: Any):
        raise InputError(f"{key}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class Range:
    """Bounds shared by the numeric kinds: low ≤ v (or low < v) and v ≤ high."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def within(self, key: str, v: float) -> None:
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            raise InputError(f"{key}: {v!r} is out of range (must be {'>' if self.low_open else '≥'} {self.low})")
        if self.high is not None and v > self.high:
            raise InputError(f"{key}: {v!r} is out of range (must be ≤ {self.high})")


@dataclass(frozen=True)
class Bool(Kind):
    def check(self, key, value):
        if not isinstance(value, bool):
            self.fail(key, "true or false", value)
        return value


@dataclass(frozen=True)
class Int(Kind):
    range: Range = Range()

    def check(self, key, value):
        if not _is_int(value):
            self.fail(key, "an integer", value)
        self.range.within(key, value)
        return value


@dataclass(frozen=True)
class Float(Kind):
    range: Range = Range()
    optional: bool = False  # None allowed (a per-dataset default)

    def check(self, key, value):
        if value is None and self.optional:
            return None
        if not _is_number(value):
            self.fail(key, "a number", value)
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            self.fail(key, "a finite number", value)
        self.range.within(key, value)
        return value


@dataclass(frozen=True)
class Choice(Kind):
    options: tuple[str, ...]

    def check(self, key, value):
        if not isinstance(value, str):
            self.fail(key, "a string", value)
        if value not in self.options:
            raise InputError(f"{key}: {value!r} is not one of {', '.join(self.options)}{suggest(value, self.options)}")
        return value


@dataclass(frozen=True)
class Text(Kind):
    """Any text."""

    def check(self, key, value):
        if not isinstance(value, str):
            self.fail(key, "a string", value)
        return value


@dataclass(frozen=True)
class Ints(Kind):
    """A list of integers; a single integer stands for a list of one."""

    range: Range = Range()
    example: str = "[64, 64]"

    def check(self, key, value):
        if _is_int(value):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
            self.fail(key, f"a list of integers such as {self.example}", value)
        for v in value:
            self.range.within(key, v)
        return list(value)


@dataclass(frozen=True)
class Texts(Kind):
    """A list of distinct strings (column names); one string stands for a list of one."""

    def check(self, key, value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, "a list of column names such as ['age', 'island']", value)
        if len(set(value)) != len(value):
            raise InputError(f"{key}: {next(v for v in value if list(value).count(v) > 1)!r} is listed twice")
        return list(value)


@dataclass(frozen=True)
class Lambdas(Kind):
    """A λ grid: a list of numbers, one number, or grid text such as '0,logspace(-6,0,13)'."""

    def check(self, key, value):
        try:
            if isinstance(value, str):
                return parse_grid(value)
            if _is_number(value):
                return check_lambdas([value])
            if isinstance(value, (list, tuple)) and all(_is_number(v) for v in value):
                return check_lambdas(value)
        except InputError as exc:
            raise InputError(f"{key}: {exc}") from None
        self.fail(key, "a list of numbers or a grid such as 'logspace(-5,0,16)'", value)


@dataclass(frozen=True)
class Address(Kind):
    """A Dask scheduler address, PROTOCOL://HOST:PORT (tcp, tls or ucx; the port 1 to 65535), or empty."""

    PROTOCOLS: ClassVar[tuple[str, ...]] = ("tcp", "tls", "ucx")

    def check(self, key, value):
        if not isinstance(value, str):
            self.fail(key, "a string", value)
        if not value:
            return value
        protocol, sep, rest = value.partition("://")
        host, colon, port = rest.rpartition(":")
        if not sep or protocol not in self.PROTOCOLS or not colon or not host or not port.isdigit() \
                or not 0 < int(port) < 65536:
            raise InputError(f"{key}: {value!r} is not a scheduler address; give "
                             f"{'|'.join(self.PROTOCOLS)}://HOST:PORT, e.g. tcp://10.0.0.5:8786")
        return value


@dataclass(frozen=True)
class Encoding(Kind):
    """A text encoding Python knows (codecs.lookup), in its canonical name."""

    def check(self, key, value):
        import codecs

        if not isinstance(value, str) or not value:
            self.fail(key, "an encoding name such as 'latin-1'", value)
        try:
            info = codecs.lookup(value)
        except (LookupError, ValueError):  # ValueError: a name with a NUL byte
            raise InputError(f"{key}: {value!r} is not a text encoding Python knows (e.g. utf-8, latin-1, cp1252, "
                             "utf-16)") from None
        if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib, hex: codecs of bytes or of text
            raise InputError(f"{key}: {value!r} is a codec of bytes to bytes or text to text, not a text encoding "
                             "(e.g. utf-8, latin-1, cp1252, utf-16)")
        return info.name


@dataclass(frozen=True)
class DateColumns(Texts):
    """Date columns: each NAME, or NAME=FORMAT with strftime codes (the format must hold a % code)."""

    def check(self, key, value):
        value = super().check(key, value)
        for entry in value:
            name, eq, fmt = entry.partition("=")
            if not name.strip() or (eq and "%" not in fmt):
                raise InputError(f"{key}: {entry!r} is not NAME or NAME=FORMAT with strftime codes, "
                                 "e.g. 'date=%Y/%m/%d'")
        return value


def positive(low_open=True) -> Range:
    return Range(low=0, low_open=low_open)


FRACTION = Range(low=0, high=1)
