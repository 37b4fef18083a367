"""The one quote-aware scan of SQL text: where quotes and comments open and close, and where a statement ends.

Quotes are SQLite's: '…' strings, "…" and `…` identifiers. A doubled quote inside ('it''s') closes and
reopens, which leaves the same state, so it needs no special case. A `--` comment outside quotes runs to
the line end, and a quote inside it opens nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

QUOTES = frozenset({"'", '"', "`"})
COMMENT = "--"


def _after(text: str, index: int, state: str | None) -> str | None:
    char = text[index]
    if state == COMMENT:
        return None if char == "\n" else state
    if state:
        return None if char == state else state
    if char in QUOTES:
        return char
    return COMMENT if text.startswith("--", index) else None


def scan_quotes(text: str, *, quote: str | None = None) -> Iterator[tuple[int, str | None]]:
    """(index, what is open *before* that char: a quote, `COMMENT`, or None) for every char of `text`, starting inside `quote`."""
    state = quote
    for index in range(len(text)):
        yield index, state
        state = _after(text, index, state)


def open_quote(text: str, *, quote: str | None = None) -> str | None:
    """The quote still open at the end of `text` (an open comment is not a quote), or None.

    >>> open_quote("SELECT 'it''s"), open_quote('SELECT "a b" FROM t'), open_quote("SELECT a -- it's")
    ("'", None, None)
    """
    state = quote
    for index, before in scan_quotes(text, quote=quote):
        state = _after(text, index, before)
    return None if state == COMMENT else state


def statement_end(text: str, *, quote: str | None = None, at_comment: bool = True) -> int:
    """Index where the first statement of `text` ends: a `;` outside quotes and comments, a blank line (commentary
    follows) or, with `at_comment`, a `--` comment; `len(text)` when none comes.

    >>> statement_end("SELECT ';' FROM t; DROP"), statement_end("SELECT 1\\n\\nThis query"), statement_end("SELECT 1 -- x")
    (17, 8, 9)
    >>> statement_end("SELECT 1 -- a; b\\nFROM t;", at_comment=False), statement_end("SELECT 1 -- a\\n\\nThis", at_comment=False)
    (23, 13)
    """
    for index, before in scan_quotes(text, quote=quote):
        if before is None and (text[index] == ";" or (at_comment and text.startswith("--", index))):
            return index
        if before in (None, COMMENT) and text.startswith("\n\n", index):  # a comment's line end counts too
            return index
    return len(text)


def ends_a_statement(text: str) -> bool:
    """Whether `text` holds a `;` outside quotes and comments.

    >>> ends_a_statement("SELECT ';'"), ends_a_statement("SELECT 1;"), ends_a_statement("SELECT 1 -- ;")
    (False, True, False)
    """
    return any(before is None and text[index] == ";" for index, before in scan_quotes(text))


def without_comments(text: str) -> str:
    """`text` with its `--` comments (outside quotes) removed, up to their line end.

    >>> without_comments("SELECT a -- it's the a\\nFROM t WHERE b = '--'")
    "SELECT a \\nFROM t WHERE b = '--'"
    """
    kept = []
    for index, before in scan_quotes(text):
        if before != COMMENT and (before is not None or not text.startswith("--", index)):
            kept.append(text[index])
        elif before == COMMENT and text[index] == "\n":
            kept.append("\n")
    return "".join(kept)
