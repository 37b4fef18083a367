"""The schema grammar: gold SQL of the shared Spider and BIRD dev sets parses, unknown names do not.

`grammar_rejection` checks the Lark form decoding uses (llguidance); the GBNF form (for xgrammar and
vLLM's default backend) is checked against it on the same queries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2sql_pipeline.core.sql.schema_grammar import SchemaNames, grammar_rejection, schema_grammar

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
VISITS = SchemaNames.from_tables_entry(
    {"table_names_original": ["visit", "visitor"], "column_names_original": [[-1, "*"], [0, "ID"], [0, "Num"], [1, "ID"], [1, "age"], [1, "full name"]]}
)


ACCEPTED = [
    "SELECT count(*) FROM visitor WHERE age < 30",
    "SELECT T1.age FROM visitor AS T1 JOIN visit AS T2 ON T1.ID = T2.ID",
    'SELECT "full name" FROM visitor ORDER BY age DESC LIMIT 1',
    "SELECT Num FROM visit UNION SELECT age FROM visitor",
    "SELECT age FROM visitor WHERE ID IN (SELECT ID FROM visit);",
    "SELECT CAST(age AS REAL ) FROM visitor",  # whitespace after a type name, before its bracket
    "SELECT visitorData.age FROM visitor AS visitorData JOIN visit AS T2 ON visitorData.ID = T2.ID",  # a camelCase alias
    "SELECT DISTINCT(age) FROM visitor",  # no space needed before a bracket here (BIRD gold writes it)
]
REJECTED = [
    "SELECT height FROM visitor",  # no such column anywhere
    "SELECT age FROM museum",  # no such table
    "SELECT count(*) FROM visit WHERE age < 30",  # age belongs to visitor, and FROM names only visit
    "SELECT full name FROM visitor",  # a name with a space must be quoted
    "SELECT age FROM visit ORIGHT JOIN visitor",  # an alias run into a keyword
    # a snake_case qualifier: as an alias it let the model run a missing column on to the token cap
    "SELECT visitor_data.age FROM visitor AS visitor_data JOIN visit AS T2 ON visitor_data.ID = T2.ID",
    # two words with no space between them: SQLite reads one name (`visitorUNION`), which the schema lacks
    "SELECT age FROM visitorUNION SELECT Num FROM visit",
    "SELECT ageFROM visitor",
    "SELECT count(*) FROM visitor WHERE age < 30AND ID > 1",
    "SELECTage FROM visitor",
    # a T1-style qualifier has at most two digits: a model once ran one on to `Y2014140100000...`
    "SELECT T100.age FROM visitor AS T100 JOIN visit AS T2 ON T100.ID = T2.ID",
]


def _gbnf_accepts(names: SchemaNames, sql: str) -> bool:
    import xgrammar

    matcher = xgrammar.GrammarMatcher(xgrammar.GrammarCompiler(xgrammar.TokenizerInfo([])).compile_grammar(schema_grammar(names)))
    return all(matcher.accept_string(char) for char in sql) and matcher.is_completed()


@pytest.mark.parametrize(("sql", "accepted"), [(sql, True) for sql in ACCEPTED] + [(sql, False) for sql in REJECTED])
def test_both_forms_accept_the_schema_and_reject_what_it_lacks(sql: str, accepted: bool) -> None:
    assert _gbnf_accepts(VISITS, sql) is accepted
    assert (grammar_rejection(VISITS, sql) is None) is accepted


def _acceptance(tables_file: Path, questions_file: Path, sql_key: str, database_dir: Path | None) -> tuple[int, list[str]]:
    schemas = {e["db_id"]: SchemaNames.from_tables_entry(e) for e in json.loads(tables_file.read_text())}
    questions = [q for q in json.loads(questions_file.read_text()) if database_dir is None or (database_dir / q["db_id"]).is_dir()]
    rejected = [f"{q['db_id']}: {q[sql_key]} ({why})" for q in questions if (why := grammar_rejection(schemas[q["db_id"]], q[sql_key]))]
    return len(questions), rejected


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_accepts_spider_dev_gold() -> None:
    total, rejected = _acceptance(SHARED / "spider-dev/tables.json", SHARED / "spider-dev/dev.json", "query", SHARED / "spider-dev/database")
    assert total == 972 and 1 - len(rejected) / total >= 0.99, rejected


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_accepts_bird_dev_gold() -> None:
    total, rejected = _acceptance(SHARED / "bird-dev/dev_tables.json", SHARED / "bird-dev/dev.json", "SQL", None)
    assert total == 1534 and 1 - len(rejected) / total >= 0.99, rejected
