"""Every problem of a table in one message: the checks of l2cli.data.table each add what they find here
instead of stopping at the first, and the message ends with one fix for all of them that runs as printed."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..errors import InputError


@dataclass(frozen=True)
class Problem:
    """One problem, said whole with its fixes (``text``), and the first of those fixes as options: columns to
    leave out (``drop``) and other flags, shell-quoted (``flags``)."""

    text: str
    drop: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass
class Problems:
    """The problems found so far in the table ``name``, whose --drop already names ``dropped``."""

    name: str
    dropped: tuple[str, ...] = ()
    found: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.found.append(problem)

    def raise_any(self) -> None:
        """One InputError for all the problems found (none: nothing happens)."""
        if not self.found:
            return
        if len(self.found) == 1:
            raise InputError(f"{self.name}: {self.found[0].text}")
        said = "; ".join(f"({k}) {p.text}" for k, p in enumerate(self.found, 1))
        raise InputError(f"{self.name}: {len(self.found)} problems: {said}; all at once: {self.fix()}")

    def fix(self) -> str:
        """The options that fix every problem with its first fix, the table's own --drop kept."""
        drop = [*self.dropped, *(c for p in self.found for c in p.drop if c not in self.dropped)]
        flags = list(dict.fromkeys(f for p in self.found for f in p.flags))
        return " ".join([*([drop_flag(dict.fromkeys(drop))] if drop else []), *flags])


def drop_flag(columns) -> str:
    """The --drop option for ``columns``, shell-quoted (a name with a comma needs --set's TOML list)."""
    columns = list(columns)
    if any("," in c for c in columns):
        names = ", ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in columns)
        return f"--set {shlex.quote(f'data.drop=[{names}]')}"
    return f"--drop {shlex.quote(','.join(columns))}"
