"""The one quote- and comment-aware scan used by SQL extraction and completion."""

import pytest

from t2sql_pipeline.core.sql.extraction import extract_sql
from t2sql_pipeline.core.sql.statements import ends_a_statement, open_quote, statement_end, without_comments


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("SELECT 'a;b' FROM t; x", 19),
        ('SELECT "col;umn" FROM t', 23),
        ("SELECT `a``;` FROM t;", 20),
        ("SELECT 'it''s;' FROM t;", 22),
        ("SELECT 1 -- don't; stop\nFROM t;", 9),
    ],
)
def test_statement_end_skips_quoted_semicolons(text: str, end: int) -> None:
    assert statement_end(text) == end


def test_a_quote_inside_a_comment_opens_nothing() -> None:
    text = "SELECT a -- the user's name\nFROM t; DROP TABLE t"
    assert open_quote(text) is None and ends_a_statement(text)
    assert statement_end(text, at_comment=False) == text.index(";")
    assert without_comments(text) == "SELECT a \nFROM t; DROP TABLE t"


def test_a_scan_can_start_inside_a_quote() -> None:
    assert statement_end("b;c' FROM t; x", quote="'") == 11
    assert open_quote("abc", quote='"') == '"'


def test_extraction_keeps_the_first_statement_without_comments() -> None:
    assert extract_sql("SELECT name -- it's here\nFROM singer WHERE x = ';'; DROP TABLE singer") == "SELECT name \nFROM singer WHERE x = ';';"
