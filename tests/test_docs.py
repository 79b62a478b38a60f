"""The docs: the reference pages are what the code makes of itself (make docs), every config key, command
and run-directory file is in them, the links resolve, and the README stays short."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from l2cli.cli import cli, reference
from l2cli.config import all_keys
from l2cli.rundir.run import OWN_FILES

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "reference"
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The pages as `make docs` makes them, in a fresh process (as the Makefile runs it: nothing a test
    changed in this one, such as click's state, can leak into them)."""
    folder = tmp_path_factory.mktemp("reference")
    subprocess.run([sys.executable, "-m", "l2cli.cli.reference", str(folder)], check=True, capture_output=True,
                   env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")})
    return {name: (folder / name).read_text(encoding="utf-8") for name in reference.PAGES}


@pytest.mark.parametrize("name", list(reference.PAGES))
def test_every_generated_reference_page_is_up_to_date(name, made):
    made, kept = made[name].splitlines(), (GENERATED / name).read_text(encoding="utf-8").splitlines()
    first = next((i for i, (a, b) in enumerate(zip(made, kept, strict=False)) if a != b), min(len(made), len(kept)))
    assert kept == made, (f"docs/reference/{name} is stale (line {first + 1}: {kept[first:first + 1]} is now "
                          f"{made[first:first + 1]}): run make docs")


def test_the_reference_holds_every_key_command_and_file():
    pages = reference.pages()
    assert [k for k in all_keys() if f"| `{k}` |" not in pages["configuration.md"]] == []
    assert [c for c in cli.commands if f"## l2cli {c}\n" not in pages["cli.md"]] == []
    assert [f for f in OWN_FILES if f"| **{f}** |" not in pages["output-files.md"]] == []
    assert "momentum μ (momentum, nesterov)" in pages["configuration.md"]  # a rule's key, from its declaration


def test_a_stale_page_is_caught(tmp_path):
    reference.main([str(tmp_path)])
    page = tmp_path / "cli.md"
    assert page.read_text(encoding="utf-8") == reference.pages()["cli.md"]
    page.write_text(page.read_text(encoding="utf-8").replace("sweep", "swept", 1), encoding="utf-8")
    assert page.read_text(encoding="utf-8") != reference.pages()["cli.md"]


def test_the_readme_is_short():
    words = len(re.sub(r"```.*?```", "", (ROOT / "README.md").read_text(), flags=re.S).split())
    assert words < 2000, words


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_the_docs_resolves(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert broken == []
