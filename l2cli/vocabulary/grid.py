"""λ grids written on a command line: ``0,1e-4,1e-3``, ``logspace(-6,0,13)``, ``0,logspace(-6,0,13)``.

Terms are separated by commas outside parentheses; each term is a number,
``logspace(a,b,n)`` (n values from 10^a to 10^b) or ``linspace(a,b,n)``. The
result is sorted ascending with duplicates removed; every λ must be finite and
≥ 0. Pure Python: ``linspace`` here gives numpy's values bit for bit.
"""

from __future__ import annotations

import math
import re

from ..errors import InputError

_CALL = re.compile(r"^(logspace|linspace)\(([^()]*)\)$")
#: The most values one grid term may generate (a typo such as logspace(-5,0,1e9) fails at once).
MAX_GRID_VALUES = 100_000


def split_top_level(text: str) -> list[str]:
    """Split at commas that are outside (), [] and {}."""
    terms, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t.strip() for t in terms]


def linspace(start: float, stop: float, n: int) -> list[float]:
    """n evenly spaced values from start to stop, as numpy.linspace computes them (start + i·step)."""
    if n == 1:
        return [float(start)]
    step = (stop - start) / (n - 1)
    values = [i * step + start for i in range(n)]
    values[-1] = float(stop)
    return values


def _term(term: str, text: str) -> list[float]:
    """The values of one grid term."""
    if not term:
        raise InputError(f"empty term in λ grid {text!r}")
    call = _CALL.match(term)
    if not call:
        try:
            return [float(term)]
        except ValueError:
            raise InputError(f"bad λ grid term {term!r}: use numbers, logspace(a,b,n) or linspace(a,b,n)") from None
    fn, args = call.groups()
    parts = args.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(f"bad λ grid term {term!r}: expected {fn}(start,stop,count)") from None
    if not 1 <= n <= MAX_GRID_VALUES or not (math.isfinite(a) and math.isfinite(b)):
        raise InputError(f"bad λ grid term {term!r}: count must be 1 to {MAX_GRID_VALUES:,} and the ends finite")
    points = linspace(a, b, n)
    if fn == "linspace":
        return points
    try:  # 10.0 ** e is correctly rounded for whole exponents (1e-05, not numpy's 9.999999999999999e-06)
        return [10.0 ** e for e in points]
    except OverflowError:
        raise InputError(f"bad λ grid term {term!r}: 10^{max(a, b):g} is beyond the largest float") from None


def parse_grid(text: str) -> list[float]:
    """Parse a λ grid expression into a sorted list of distinct floats."""
    values: list[float] = []
    for term in split_top_level(str(text).replace(" ", "")):
        values.extend(_term(term, text))
    return check_lambdas(values)


def check_lambdas(values) -> list[float]:
    """Sorted, distinct, finite and ≥ 0, or an InputError naming the first bad value."""
    try:
        out = sorted({float(v) for v in values})
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"λ values must be numbers, got {list(values)!r}") from None
    if not out:
        raise InputError("the λ grid is empty")
    bad = [v for v in out if not math.isfinite(v) or v < 0]
    if bad:
        raise InputError(f"λ must be finite and ≥ 0, got {bad[0]}")
    return out
