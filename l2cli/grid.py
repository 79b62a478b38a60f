"""λ grids written on a command line: ``0,1e-4,1e-3``, ``logspace(-6,0,13)``, ``0,logspace(-6,0,13)``.

Terms are separated by commas outside parentheses; each term is a number,
``logspace(a,b,n)`` (n values from 10^a to 10^b) or ``linspace(a,b,n)``. The
result is sorted ascending with duplicates removed; λ must be ≥ 0.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .errors import InputError

_CALL = re.compile(r"^(logspace|linspace)\(([^()]*)\)$")


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


def parse_grid(text: str) -> list[float]:
    """Parse a λ grid expression into a sorted list of distinct floats."""
    values: list[float] = []
    for term in split_top_level(str(text).replace(" ", "")):
        if not term:
            raise InputError(f"empty term in λ grid {text!r}")
        call = _CALL.match(term)
        if call:
            fn, args = call.groups()
            parts = args.split(",")
            try:
                a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
                if len(parts) != 3 or n < 1:
                    raise ValueError
            except (ValueError, IndexError):
                raise InputError(f"bad λ grid term {term!r}: expected {fn}(start,stop,count)") from None
            points = np.linspace(a, b, n).tolist()
            # 10.0 ** e is correctly rounded for whole exponents (1e-05, not np.logspace's 9.999999999999999e-06)
            values.extend([10.0 ** e for e in points] if fn == "logspace" else points)
        else:
            try:
                values.append(float(term))
            except ValueError:
                raise InputError(
                    f"bad λ grid term {term!r}: use numbers, logspace(a,b,n) or linspace(a,b,n)") from None
    return check_lambdas(values)


def check_lambdas(values) -> list[float]:
    out = sorted({float(v) for v in values})
    if not out:
        raise InputError("the λ grid is empty")
    bad = [v for v in out if not math.isfinite(v) or v < 0]
    if bad:
        raise InputError(f"λ must be finite and ≥ 0, got {bad[0]}")
    return out
