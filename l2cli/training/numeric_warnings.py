"""Numeric warnings (numpy's RuntimeWarning: overflow, invalid value, …), counted instead of printed.

A diverging model makes numpy warn on every operation that touches its NaN or inf numbers. Those warnings
say nothing the status ``diverged`` does not, and printed raw they bury the command's output (a CI log
of ten identical lines). Every place that computes on trained models counts them here instead; the run
records the counts in manifest.json (``numeric_warnings``) and the command line says them once.
Other warnings pass through as usual.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter


@contextlib.contextmanager
def counted(into: Counter):
    """Count the RuntimeWarnings raised inside the block into ``into`` (message -> times); show the others."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield into
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            into[str(w.message)] += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def record(counts: Counter, summary) -> dict | None:
    """manifest.json's ``numeric_warnings``: how many of each kind, and the models that diverged (whose
    non-finite numbers cause them), or None when there were none."""
    if not counts:
        return None
    bad = summary[summary["status"] == "diverged"] if "status" in summary else summary.iloc[:0]
    models = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
              for row in bad[[c for c in bad.columns if c in ("lambda", "seed") or "." in c]].to_dict("records")]
    return {"count": int(sum(counts.values())), "kinds": dict(counts.most_common()), "diverged_models": models}


def line(info: dict) -> str:
    """The one line a command prints for a run's numeric warnings."""
    kinds = "; ".join(f"{message}: {n}" for message, n in info["kinds"].items())
    models = info["diverged_models"]
    where = (f", from the non-finite numbers of {len(models)} diverged model(s)" if models else "")
    return f"{info['count']} numeric warning(s) ({kinds}){where}; manifest.json has them (numeric_warnings)"
