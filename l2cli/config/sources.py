"""Where a config comes from: built-in defaults < a TOML file < --set section.key=value < dedicated flags."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..vocabulary.grid import split_top_level
from ..vocabulary.kinds import suggest
from .schema import SECTIONS, Config, check_axis, split_key


def parse_override(text: str) -> tuple[str, Any]:
    """``section.key=value`` with value read as a TOML literal (bare words are strings)."""
    dotted, eq, raw = text.partition("=")
    dotted = dotted.strip()
    if not eq or "." not in dotted:
        raise InputError(f"--set expects section.key=value, got {text!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    except RecursionError:
        raise InputError(f"--set {dotted}: the value is nested too deeply") from None
    return dotted, value


def parse_grid_option(text: str) -> tuple[str, list]:
    """``section.key=V1,V2,...`` (values are TOML literals; commas inside [] separate nothing)."""
    dotted, eq, raw = text.partition("=")
    dotted = dotted.strip()
    if not eq or "." not in dotted or not raw.strip():
        raise InputError(f"--grid expects section.key=value1,value2,..., got {text!r}")
    values = [parse_override(f"{dotted}={term}")[1] for term in split_top_level(raw.strip())]
    return dotted, check_axis(dotted, values)


#: The largest experiment file read (a grid of thousands of values is a few kB).
MAX_CONFIG_BYTES = 4 * 2**20


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read an experiment file into flat ``section.key -> value`` pairs (``grid:key`` for [grid] entries).

    A relative ``data.path`` in the file is relative to the file's own directory.
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not path.is_dir():  # a FIFO would block, a device never end
            raise InputError(f"config file {path} is not a regular file (a device, FIFO or socket)")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise InputError(f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not an experiment file")
        doc = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"config file {path} is a directory") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        from ..errors import describe_os_error

        raise InputError(f"cannot read the config file: {describe_os_error(exc)}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be an experiment file") from None
    flat = {}
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise InputError(f"{path}: top-level key {section!r} must be a [section]{suggest(section, SECTIONS)}")
        for name, value in table.items():
            flat[f"grid:{name}" if section == "grid" else f"{section}.{name}"] = value
    data_path = flat.get("data.path")
    if isinstance(data_path, str) and data_path and not Path(data_path).is_absolute():
        flat["data.path"] = str(path.parent / data_path)
    return flat


def resolve(config_file: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
            flags: dict[str, Any] | None = None, grid: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults < config file < ``--set`` overrides < flags, each value checked as it is set.

    ``grid`` holds ``--grid section.key=v1,v2`` options; they replace a config
    file's ``[grid]`` entry for the same key. ``flags`` with value None are unset.
    """
    pairs: list[tuple[str, Any]] = []
    if config_file is not None:
        pairs += list(load_toml(config_file).items())
    pairs += [parse_override(o) for o in overrides]
    pairs += [(k, v) for k, v in (flags or {}).items() if v is not None]
    sections = {name: cls() for name, cls in SECTIONS.items()}
    axes: dict[str, list] = {}
    for dotted, value in pairs:
        if dotted.startswith("grid:"):
            axes[dotted[len("grid:"):]] = value
        else:
            section, name = split_key(dotted)
            setattr(sections[section], name, value)
    from_options = [parse_grid_option(option) for option in grid]
    for k, (axis, _) in enumerate(from_options):
        if any(other == axis for other, _ in from_options[:k]):
            raise InputError(f"--grid {axis} is given twice: give all its values in one --grid {axis}=v1,v2,...")
    single = {k for k, _ in (parse_override(o) for o in overrides)} | {k for k, v in (flags or {}).items()
                                                                        if v is not None}
    for axis, _ in from_options:
        if axis in single:
            raise InputError(f"{axis} is both a --grid axis and a single value (--set or a flag): give one")
    axes.update(from_options)
    notes = []
    if sections["sweep"].cv and sections["data"].val_size > 0 and "data.val_size" not in dict(pairs):
        sections["data"].val_size = 0.0
        notes.append(f"{sections['sweep'].cv}-fold cross-validation selects λ: no separate validation split "
                     "(data.val_size = 0)")
    given = {k for k, _ in pairs if not k.startswith("grid:")}
    return Config(**sections, grid=axes, notes=notes, given=given)


def parse_list(text: str, what: str, example: str, kind=int) -> list:
    """'64,64' -> [64, 64] (kind int) or 'age,island' -> ['age', 'island'] (kind str); '' -> []."""
    text = text.strip().strip("[]")
    if not text:
        return []
    try:
        return [kind(t.strip()) for t in text.split(",")]
    except ValueError:
        raise InputError(f"{what}: expected comma-separated integers such as {example}, got {text!r}") from None
