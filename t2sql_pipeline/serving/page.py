"""The page served at `GET /` (`page.html`, plain HTML and JS, no build step and no external resources):
pick a database and see its tables, ask a question or start a query, see the SQL highlighted, run it."""

from pathlib import Path

PAGE_HTML = Path(__file__).with_name("page.html").read_text(encoding="utf-8")
