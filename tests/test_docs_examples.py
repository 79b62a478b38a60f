"""Every console example of the README and docs/ runs, and prints what the page shows.

A ```console block is an example: each ``$ `` line is a command (run by bash in the project root, with
this environment's l2cli first on PATH, stdout and stderr together), the lines up to the next one are its
output. In the expected text, a line ``...`` stands for any lines (none included) and ``...`` inside a line
for any text (timings). /tmp/l2cli, the scratch directory of the examples, is a fresh directory per page.
Blocks marked ```sh are commands to read, not examples.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of every console block, in page order."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for line in block.rstrip("\n").split("\n"):
            if line.startswith("$ "):
                out.append([line[2:], []])
            elif out and out[-1][0].endswith("\\"):
                out[-1][0] = out[-1][0][:-1] + " " + line.strip()
            elif out:
                out[-1][1].append(line.rstrip())
    return [(command, "\n".join(lines).rstrip("\n").split("\n") if "".join(lines) else []) for command, lines in out]


def line_pattern(line: str) -> str:
    """A line's regular expression: '...' any text; a run of two or more spaces (a table's column gap, whose
    width follows the widest cell of its column) any run of two or more."""
    return ".*".join(" {2,}".join(re.escape(piece) for piece in re.split(r" {2,}", part))
                     for part in line.split("..."))


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected`` with each '...' line standing for any lines, '...' in a line for any
    text and a column gap for any column gap."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    pattern = line_pattern(head)
    return bool(actual) and re.fullmatch(pattern, actual[0]) is not None and matches(rest, actual[1:])


def test_the_matcher_discriminates():
    assert matches(["a", "...", "d in ... s"], ["a", "b", "c", "d in 3.5 s"])
    assert not matches(["a", "...", "d in ... s"], ["a", "b", "c", "e in 3.5 s"])
    assert not matches(["a"], ["a", "b"]) and matches(["..."], [])
    assert matches(["  1  2.5   x"], ["  1    2.5  x"]) and not matches(["  1  2.5   x"], ["  1    2.6  x"])
    assert not matches(["1  2"], ["1 2"])  # one space is not a column gap
    assert examples("```console\n$ echo a \\\n  b\na b\n```\n") == [("echo a  b", ["a b"])]


@pytest.mark.slow  # the tutorial's sweeps take seconds each
@pytest.mark.parametrize("page", [p for p in PAGES if "```console" in p.read_text()],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_console_example_prints_what_the_page_shows(page, tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    scratch = str(tmp_path / "l2cli")
    os.makedirs(scratch)
    for command, expected in examples(page.read_text()):
        command = command.replace("/tmp/l2cli", scratch)
        proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        actual = [line.rstrip() for line in proc.stdout.replace(scratch, "/tmp/l2cli").rstrip("\n").split("\n")]
        actual = [] if actual == [""] else actual
        assert matches(expected, actual), (
            f"{page.name}: $ {command}\n--- expected\n" + "\n".join(expected) + "\n--- printed\n" + "\n".join(actual))
