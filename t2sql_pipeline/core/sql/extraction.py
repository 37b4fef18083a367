"""The SQL in a model's raw answer: the first statement, wherever the model put it (bare, fenced, tagged)."""

from __future__ import annotations

import re

from t2sql_pipeline.core.sql.statements import statement_end, without_comments

_FENCE = re.compile(r"```(?:sql|sqlite)?\s*(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_HAS_SQL = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)
_SQL_TAG = re.compile(r"</?sql>", re.IGNORECASE)


def extract_sql(text: str) -> str:
    """The first SQL statement in a model's answer, ending with a semicolon.

    >>> extract_sql("[INST] q [/INST] SELECT name FROM t; -- done")
    'SELECT name FROM t;'
    >>> extract_sql("We need to select the name.\\nSELECT name FROM singer")
    'SELECT name FROM singer;'
    >>> extract_sql("Here it is:\\n```sql\\nSELECT 1\\n```\\nHope this helps")
    'SELECT 1;'
    """
    if "[/INST]" in text:
        text = text.rsplit("[/INST]", 1)[1]
    text = _SQL_TAG.sub("\n\n", text)  # <SQL>...</SQL>: the closing tag ends the statement like a blank line
    fenced = next((m.group(1) for m in _FENCE.finditer(text) if _HAS_SQL.search(m.group(1))), None)
    # A fence without SQL inside (a stray closing fence after a bare query) ends the query instead.
    text = fenced if fenced is not None else text.split("```", 1)[0]
    # A query starts a line (or the text); "we need to select ..." in commentary does not.
    start = re.search(r"^\s*(SELECT|WITH)\b", text, re.IGNORECASE | re.MULTILINE) or re.search(r"\b(SELECT|WITH)\b", text)
    if start is not None:
        text = text[start.start() :].lstrip()
    statement = _first_statement(text).strip()
    return f"{statement};" if statement else ""


def _first_statement(text: str) -> str:
    # Cut at the first semicolon outside quotes; a blank line also ends the statement (commentary follows).
    # `--` comments are dropped: the semicolon appended later must not land inside one.
    return without_comments(text[: statement_end(text, at_comment=False)])
