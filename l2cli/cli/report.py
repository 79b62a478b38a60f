"""l2cli report: the whole run as one self-contained HTML page, or a Markdown summary for a CI job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..vocabulary.choices import REPORT_FORMATS
from .app import CliError, cli


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="The file to write; - for stdout (default: RUN/report.html, or stdout for markdown).")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="html", show_default=True,
              help="html: one page, pictures inline, nothing fetched; markdown: tables and the answer, for "
                   "$GITHUB_STEP_SUMMARY or a pull-request comment.")
@click.option("--assets", type=click.Path(file_okay=False),
              help="markdown: write each picture into this folder as a PNG and link it.")
@click.option("--seed", type=click.IntRange(min=0), help="The seed whose models the pictures show (default: 0).")
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Where the run's data file is now, for the model pictures (its fingerprint must match).")
def report(run, output, fmt, assets, seed, data):
    """Write the report of RUN: what was run, the chosen λ and why, the trade-off in words, every table and
    every picture that applies; for a grid, a comparison and one section per cell. The same run gives the
    same bytes (needs matplotlib)."""
    from ..rundir.run import Run

    if assets and fmt != "markdown":
        raise CliError("--assets goes with --format markdown: the HTML page holds its pictures inline")
    try:
        from ..report.make import html_report, markdown_report
    except ImportError:
        raise CliError("l2cli report needs matplotlib: pip install 'l2cli[plot]'") from None
    loaded = Run.load(run)
    loaded.data = data
    if output is None:
        output = str(loaded.path / "report.html") if fmt == "html" else "-"
    path = None if output == "-" else Path(output)
    if path is not None and not path.parent.is_dir():
        raise CliError(f"-o {path}: the directory {path.parent} does not exist")
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    if fmt == "html":
        content = html_report(loaded, seed, log)
    else:
        if assets:
            if os.path.lexists(assets) and not Path(assets).is_dir():
                raise CliError(f"--assets {assets}: not a directory")
            Path(assets).mkdir(parents=True, exist_ok=True)
        content = markdown_report(loaded, assets, path.parent if path is not None else None, seed, log)
    if path is None:
        sys.stdout.write(content)
        return
    from ..machine.files import text, write_whole

    write_whole(path, text(content))
    click.echo(str(path))
