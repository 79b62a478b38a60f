"""A Document as one self-contained HTML page: its style and its pictures (inline SVG) inside, nothing fetched.

The page declares a Content-Security-Policy that allows no script and no request at all (``default-src
'none'``), so even a string a run directory was edited to hold cannot make it run code or reach the network;
every string is escaped besides. There is no timestamp and no random id: the same run gives the same bytes.
"""

from __future__ import annotations

from html import escape as _escape

from .. import __version__
from ..rundir.formats import printable
from .document import Document, Facts, Picture, Table

STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1b1f24;
       background: #fff; margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .75rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; }
p.answer { font-size: 1.05rem; background: #f0f6ff; border-left: 4px solid #0969da; padding: .6rem .9rem; }
nav ol { columns: 2; margin: .5rem 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1.25rem; font-size: .88rem; }
caption { caption-side: top; text-align: left; color: #57606a; padding-bottom: .3rem; }
th, td { border: 1px solid #d0d7de; padding: .2rem .55rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { white-space: nowrap; }
table.facts td { overflow-wrap: anywhere; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 0 1.5rem; }
figure { margin: 1rem 0 1.75rem; min-width: 0; }
figure.wide { grid-column: 1 / -1; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: #57606a; font-size: .9rem; margin-top: .3rem; }
.scroll { overflow-x: auto; }
footer { color: #57606a; font-size: .85rem; margin-top: 3rem; }
"""
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def page(doc: Document, svgs: dict[str, str]) -> str:
    """The page of ``doc``; ``svgs`` maps each Picture's name to its inline SVG (l2cli.report.pictures)."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f'<meta name="generator" content="l2cli {escape(__version__)}">',
             f"<title>{escape(doc.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>", "<main>",
             f"<h1>{escape(doc.title)}</h1>", f'<p class="answer" id="answer">{escape(doc.answer)}</p>',
             "<nav><ol>" + "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.title)}</a></li>'
                                   for s in doc.sections) + "</ol></nav>"]
    for section in doc.sections:
        parts.append(f'<section id="{escape(section.anchor)}">')
        parts.append(f"<h{section.level}>{escape(section.title)}</h{section.level}>")
        parts += blocks_html(section.blocks, svgs)
        parts.append("</section>")
    parts += [f"<footer>Written by l2cli {escape(__version__)} report from the run's own files.</footer>",
              "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


#: the panels that take the page's whole width (the others sit two to a row on a wide screen)
WIDE = ("boundary", "curvature", "heatmap", "evidence")


def escape(text) -> str:
    """``text`` as HTML text: markup escaped, control and format characters (a NUL, a bidirectional override)
    shown as U+FFFD."""
    return _escape(printable(str(text)))


def blocks_html(blocks: list, svgs: dict[str, str]) -> list[str]:
    """The blocks of a section, each run of pictures in one gallery."""
    out, gallery = [], []
    for block in [*blocks, None]:
        if isinstance(block, Picture):
            gallery.append(block_html(block, svgs))
            continue
        if gallery:
            out.append('<div class="gallery">\n' + "\n".join(gallery) + "\n</div>")
            gallery = []
        if block is not None:
            out.append(block_html(block, svgs))
    return out


def block_html(block, svgs: dict[str, str]) -> str:
    if isinstance(block, str):
        return f"<p>{escape(block)}</p>"
    if isinstance(block, Facts):
        rows = "".join(f"<tr><th scope=\"row\">{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in block.rows)
        return f'<table class="facts">{rows}</table>'
    if isinstance(block, Table):
        return table_html(block)
    if isinstance(block, Picture):
        wide = ' class="wide"' if block.panel in WIDE else ""
        return (f'<figure id="figure-{escape(block.name)}"{wide}>\n{svgs[block.name]}'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>")
    raise TypeError(f"not a block of a report: {type(block).__name__}")


def table_html(table: Table) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in table.columns)
    numeric = [c in table.numeric for c in table.columns]
    body = "".join("<tr>" + "".join(f'<td class="num">{escape(v)}</td>' if n else f"<td>{escape(v)}</td>"
                                    for v, n in zip(row, numeric, strict=True)) + "</tr>" for row in table.rows)
    return (f'<div class="scroll"><table><caption>{escape(table.caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
