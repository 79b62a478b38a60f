"""l2cli report: one self-contained page of a run and its Markdown summary. The page holds every section and one
SVG per panel that applies, fetches nothing, escapes whatever a run directory holds, and is the same bytes
each time; the Markdown renders as tables (markdown-it-py) and stays small. (The page in a real browser:
tests/test_report_browser.py.)"""

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

from l2cli.rundir.run import Run

pytest.importorskip("matplotlib")

SMALL = ["--epochs", "150", "--lambdas", "1e-4,1e-2,1", "--seeds", "0,1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    made = {"moons": ("sweep", *SMALL, "--set", "model.hidden=[8]"),
            "grid": ("sweep", *SMALL, "--grid", "model.hidden=[4],[8]", "--grid", "data.n_train=20,40", "--cv", "2")}
    for name, args in made.items():
        result = invoke(*args, "--out", root / name, "-q")
        assert result.exit_code == 0, result.output
    return {name: root / name for name in made}


class Page(HTMLParser):
    """What a test needs of a page: its headings, tables, SVGs by panel, and every URL-bearing attribute."""

    def __init__(self, text):
        super().__init__()
        self.headings, self.tables, self.panels, self.urls, self.styles, self.scripts = [], 0, [], [], [], 0
        self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._in = tag
            self.headings.append("")
        self.tables += tag == "table"
        self.scripts += tag == "script"
        if tag == "svg" and "data-panel" in attrs:
            self.panels.append(attrs["data-panel"])
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "xlink:href", "action", "srcset") and v]
        self.styles += [attrs["style"]] if attrs.get("style") else []
        self._tag = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.headings[-1] += data
        if getattr(self, "_tag", None) == "style":
            self.styles.append(data)


@pytest.fixture(scope="module")
def moons_page(runs):
    return report(runs["moons"], "-o", "-").output


def report(run, *args):
    result = invoke("report", run, *args)
    assert result.exit_code == 0, result.output
    return result


def test_the_page_of_a_run_has_every_section_and_one_svg_per_panel_and_fetches_nothing(moons_page):
    text = moons_page
    page = Page(text)
    assert page.headings[0] == "l2cli report: moons"
    assert page.headings[1:] == ["What was run", "Results", "Pictures", "Warnings and notes"]
    assert page.panels == ["losses", "norms", "learning", "coefficients", "boundary", "weights"]
    assert page.tables == 1 + 3  # the facts; means, per-layer norms, the selection (no γ: not at a minimum)
    assert page.scripts == 0
    assert all(u.startswith("#") for u in page.urls), page.urls  # links inside the page only
    assert not any(re.search(r"url\(\s*['\"]?(?!#)", s) or "@import" in s for s in page.styles)
    assert "default-src 'none'" in text


def test_the_answer_and_the_trade_off_are_the_runs_own_numbers(runs, moons_page):
    run = Run.load(runs["moons"])
    html = moons_page
    agg = run.aggregate.sort_values("lambda")
    chosen = agg[agg["selected"].astype(str) == "True"].iloc[0]
    assert f"λ = {run.selection['lambda']:g}, chosen by the min rule on the validation split" in html
    assert f"its test loss {chosen['test_loss_mean']:.4g}" in html
    first, last = agg.iloc[0], agg.iloc[-1]
    rises = "rises at every step" if np.all(np.diff(agg["train_loss_mean"]) >= 0) else "rises from"
    assert f"the training loss {rises}" in html and f"{first['train_loss_mean']:.4g} to {last['train_loss_mean']:.4g}" \
        in html
    best = agg.loc[agg["test_loss_mean"].idxmin()]
    assert f"The test loss is lowest at λ = {best['lambda']:g} ({best['test_loss_mean']:.4g})" in html


@pytest.mark.slow
def test_a_grid_has_a_comparison_and_a_section_per_cell_with_its_own_pictures(runs):
    page = Page(report(runs["grid"], "-o", "-").output)
    assert page.headings[1:3] == ["What was run", "Comparison across cells"]
    cells = [h for h in page.headings if h.startswith("Cell ")]
    assert cells == ["Cell 1: hidden=[4], n_train=20", "Cell 2: hidden=[4], n_train=40",
                     "Cell 3: hidden=[8], n_train=20", "Cell 4: hidden=[8], n_train=40"]
    assert page.panels[:2] == ["losses", "norms"]
    for k in range(1, 5):
        assert {"learning", "boundary", "weights"} <= {p.rsplit("-cell-", 1)[0] for p in page.panels
                                                       if p.endswith(f"-cell-{k}")}
    html = report(runs["grid"], "-o", "-").output
    assert html.count("Cross-validation: each fold") == 4  # the folds of every cell


@pytest.mark.slow
def test_two_invocations_give_the_same_bytes(runs, tmp_path):
    """(and bench/report.py measures the default run's page twice in new processes)"""
    for name in ("moons", "grid"):
        report(runs[name], "-o", tmp_path / "a.html")
        report(runs[name], "-o", tmp_path / "b.html")
        assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()
        report(runs[name], "--format", "markdown", "-o", tmp_path / "a.md", "--assets", tmp_path / "a")
        report(runs[name], "--format", "markdown", "-o", tmp_path / "b.md", "--assets", tmp_path / "a")
        assert (tmp_path / "a.md").read_bytes() == (tmp_path / "b.md").read_bytes()


@pytest.mark.slow
def test_svg_ids_are_unique_in_the_page_and_every_reference_resolves(runs):
    html = report(runs["grid"], "-o", "-").output
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r'(?:url\(#|href="#)([^")]+)', html))
    assert refs <= set(ids)


def test_the_markdown_renders_as_tables_and_is_small(runs, tmp_path):
    from markdown_it import MarkdownIt

    md = report(runs["grid"], "--format", "markdown").output
    assert len(md.encode()) < 64 * 1024
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    tables = sum(t.type == "table_open" for t in tokens)
    written = len(re.findall(r"^\|(?:---:?\|)+$", md, flags=re.M))  # each table's alignment row
    assert tables == written == 1 + 2 + 4 * 3  # the facts, the cells, the selection; per cell means, norms, folds
    heads = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert heads[:3] == ["l2cli report: grid", "What was run", "Comparison across cells"]
    assert not any(t.type.startswith("html") for t in tokens)
    assert "pictures are in the HTML report" in md


@pytest.mark.slow
def test_markdown_assets_are_pngs_linked_relative_to_the_summary(runs, tmp_path):
    from markdown_it import MarkdownIt

    (tmp_path / "out").mkdir()
    report(runs["moons"], "--format", "markdown", "-o", tmp_path / "out" / "summary.md", "--assets",
           tmp_path / "pictures")
    md = (tmp_path / "out" / "summary.md").read_text()
    images = [t for t in MarkdownIt("commonmark").parse(md) if t.type == "inline" for t in t.children
              if t.type == "image"]
    assert [i.attrs["src"] for i in images] == [f"../pictures/{p}.png" for p in
                                                 ("losses", "norms", "learning", "coefficients", "boundary",
                                                  "weights")]
    for image in images:
        assert (tmp_path / "out" / image.attrs["src"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strings_from_the_run_directory_are_text_in_both_formats(tmp_path):
    """A data file whose column names and classes are markup: the page runs nothing, the Markdown makes no
    link, tag or table cell of them."""
    from markdown_it import MarkdownIt

    rng = np.random.default_rng(0)
    evil = {"<script>alert(1)</script>": rng.normal(size=80), "a|b`c`*d*": rng.normal(size=80),
            "y": np.where(rng.normal(size=80) > 0, "<img src=x onerror=alert(2)>", "[x](https://evil.example)")}
    pd.DataFrame(evil).to_csv(tmp_path / "evil.csv", index=False)
    result = invoke("sweep", "--data", tmp_path / "evil.csv", "--target", "y", "--epochs", "20", "--lambdas",
                    "0.01,1", "--seeds", "0", "--set", "model.hidden=[4]", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    html = report(tmp_path / "run", "-o", "-").output
    page = Page(html)
    assert page.scripts == 0 and "<img" not in html and "&lt;script&gt;" in html
    assert all(u.startswith("#") for u in page.urls)
    md = report(tmp_path / "run", "--format", "markdown").output
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    flat = [c for t in tokens if t.children for c in t.children] + tokens
    assert not any(t.type in ("link_open", "image", "html_inline", "html_block") for t in flat)
    rows = [t for t in tokens if t.type == "tr_open"]
    assert rows  # every row of every table kept its columns (an unescaped | would add one)
    widths = {}
    for i, t in enumerate(tokens):
        if t.type == "tr_open":
            j, n = i + 1, 0
            while tokens[j].type != "tr_close":
                n += tokens[j].type in ("td_open", "th_open")
                j += 1
            widths.setdefault(t.map[0] if t.map else i, n)
    assert len(set(widths.values())) <= 5  # no row split by a | from the data


def test_report_refuses_in_one_line(runs, tmp_path):
    for args, message in ((["--assets", tmp_path], "--assets goes with --format markdown"),
                          (["-o", tmp_path / "missing" / "r.html"], "does not exist")):
        result = invoke("report", runs["moons"], *args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    result = invoke("report", tmp_path)
    assert result.exit_code == 2 and "not an l2cli run directory" in result.output


@pytest.mark.slow
def test_a_link_at_report_html_is_replaced_not_written_through(runs, tmp_path):
    import os
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["moons"], run)
    (tmp_path / "outside.txt").write_text("keep")
    (run / "report.html").unlink(missing_ok=True)
    os.symlink(tmp_path / "outside.txt", run / "report.html")
    report(run)
    assert (tmp_path / "outside.txt").read_text() == "keep"
    assert not (run / "report.html").is_symlink()


@pytest.mark.slow
def test_a_regression_run_at_its_minima_has_the_fit_and_curvature_pictures(tmp_path):
    run = tmp_path / "run"
    result = invoke("sweep", "--dataset", "curve", "--optimizer", "lbfgs", "--set", "train.gtol=1e-8", "--lambdas",
                    "0,1e-3,1e-1", "--seeds", "0", "--set", "model.hidden=[8]", "--out", run, "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data"]["name"] == "curve"
    html = report(run, "-o", "-").output
    assert Page(html).panels == ["losses", "norms", "learning", "coefficients", "fit", "weights", "curvature"]
    assert "h above round-off" in html  # the curvature panel says how many eigenvalues it draws
