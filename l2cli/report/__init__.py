"""The report of a run: one self-contained HTML page, or a Markdown summary (l2cli report)."""
