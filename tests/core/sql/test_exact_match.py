"""Official exact-set match and partial scores on small hand-made cases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.sql.exact_eval import foreign_keys_from_sqlite
from t2sql_pipeline.core.sql.exact_match import exact_match, foreign_key_map
from t2sql_pipeline.core.sql.exact_scores import exact_levels, official_table
from t2sql_pipeline.core.sql.official_schema import OfficialSchema

TABLES = {
    "singer": ["singer_id", "name", "age", "country"],
    "concert": ["concert_id", "year"],
    "singer_in_concert": ["concert_id", "singer_id"],
}
SCHEMA = OfficialSchema.build(TABLES)
ENTRY = {  # a tables.json entry: column 0 is "*"
    "table_names_original": list(TABLES),
    "column_names_original": [[-1, "*"]] + [[t, c] for t, cols in enumerate(TABLES.values()) for c in cols],
    "foreign_keys": [[8, 1], [7, 5]],  # singer_in_concert.singer_id -> singer.singer_id, .concert_id -> concert
}
FK = foreign_key_map(ENTRY)
JOIN = "FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id"

# gold; prediction; official exact match
CASES = [
    ("SELECT name FROM singer WHERE age > 20", "SELECT name FROM singer WHERE age > 99", True),  # values ignored
    ("SELECT name FROM singer WHERE age > 20", "SELECT name FROM singer WHERE age >= 20", False),
    ("SELECT name, age FROM singer", "SELECT age, name FROM singer", True),
    ("SELECT DISTINCT name FROM singer", "SELECT name FROM singer", True),  # DISTINCT disabled
    ("SELECT count(DISTINCT name) FROM singer", "SELECT count(name) FROM singer", True),
    (f"SELECT T1.name {JOIN}", "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T2.singer_id = T1.singer_id", True),  # ON is not compared
    (f"SELECT T1.name {JOIN}", "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2", True),
    (f"SELECT T1.singer_id {JOIN}", f"SELECT T2.singer_id {JOIN}", True),  # linked by a foreign key
    (
        f"SELECT T1.name {JOIN}",
        "SELECT T1.name FROM singer AS T1 INNER JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id",
        False,
    ),  # INNER: unreadable
    ("SELECT name FROM singer WHERE country != 'x'", "SELECT name FROM singer WHERE country <> 'x'", False),
    ("SELECT name FROM singer ORDER BY age LIMIT 1", "SELECT name FROM singer ORDER BY age LIMIT 5", True),
    ("SELECT name FROM singer ORDER BY age LIMIT 1", "SELECT name FROM singer ORDER BY age", False),
    ("SELECT name FROM singer WHERE age > 1 AND age < 9", "SELECT name FROM singer WHERE age < 9 AND age > 1", True),
    ("SELECT name FROM singer WHERE age > 1 AND age < 9", "SELECT name FROM singer WHERE age < 9 OR age > 1", False),
    (
        "SELECT name FROM singer WHERE age IN (SELECT age FROM singer WHERE age > 1)",
        "SELECT name FROM singer WHERE age IN (SELECT age FROM singer WHERE age > 2)",
        True,
    ),  # nested values dropped
    ("SELECT name FROM singer INTERSECT SELECT name FROM singer WHERE age > 1", "SELECT name FROM singer UNION SELECT name FROM singer WHERE age > 1", False),
    ("SELECT name FROM singer WHERE name = 'value'", "SELECT name FROM singer WHERE name = value", True),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), CASES)
def test_official_exact_match(gold: str, pred: str, expected: bool) -> None:
    assert exact_match(gold, pred, SCHEMA, FK).exact is expected


def test_foreign_keys_are_unified_only_with_the_map() -> None:
    assert not exact_match(f"SELECT T1.singer_id {JOIN}", f"SELECT T2.singer_id {JOIN}", SCHEMA, {}).exact


def test_foreign_key_groups_follow_the_official_first_found_rule() -> None:
    # (1,2) and (3,4) make two groups; (2,3) joins the first group found, the groups stay apart.
    cols = [[-1, "*"], [0, "a"], [0, "b"], [0, "c"], [0, "d"]]
    fk = foreign_key_map({"table_names_original": ["t"], "column_names_original": cols, "foreign_keys": [[1, 2], [3, 4], [2, 3]]})
    assert fk == {"__t.a__": "__t.a__", "__t.b__": "__t.a__", "__t.c__": "__t.c__", "__t.d__": "__t.c__"}


def test_partial_scores_of_an_unreadable_prediction() -> None:
    result = exact_match("SELECT name FROM singer WHERE age > 1", "SELECT name AS n FROM singer", SCHEMA, FK)
    assert not result.readable and not result.exact
    assert result.partial["select"].f1 == 0 and result.partial["select"].pred_total == 0
    assert result.partial["where"].label_total == 1 and result.partial["order"].f1 == 1


def test_group_compares_column_names_without_their_table() -> None:
    gold = f"SELECT count(*) {JOIN} GROUP BY T1.name"
    result = exact_match(gold, "SELECT count(*) FROM singer AS T1 JOIN concert AS T2 GROUP BY T2.year", SCHEMA, FK)
    assert result.partial["group(no Having)"].f1 == 0
    same_name = exact_match(f"SELECT count(*) {JOIN} GROUP BY T1.singer_id", "SELECT count(*) FROM singer_in_concert GROUP BY concert_id", SCHEMA, {})
    assert same_name.partial["group(no Having)"].f1 == 0  # "singer_id__" vs "concert_id__"


def test_levels_and_the_official_table() -> None:
    results = [
        ("easy", exact_match("SELECT name FROM singer", p, SCHEMA, FK))
        for p in ("SELECT name FROM singer", "SELECT age FROM singer", "SELECT name FROM singer WHERE age > 1")
    ]
    levels = exact_levels(results)
    easy = levels[0]
    assert (easy.level, easy.count, easy.exact) == ("easy", 3, pytest.approx(1 / 3))
    assert easy.partial["select"].acc == pytest.approx(2 / 3)
    # where: only the third prediction has one (acc 0 over 1); no gold has one (recall over none: 0) -> F1 1
    assert (easy.partial["where"].acc, easy.partial["where"].rec, easy.partial["where"].f1) == (0.0, 0.0, 1.0)
    table = official_table(levels).splitlines()
    assert table[1].split() == ["count", "3", "0", "0", "0", "3"]
    assert table[4].split() == ["exact", "match", "0.333", "0.000", "0.000", "0.000", "0.333"]


def test_foreign_keys_read_from_a_database_file(tmp_path: Path) -> None:
    db = tmp_path / "music.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INT, country TEXT);"
            "CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, year INT);"
            "CREATE TABLE singer_in_concert (concert_id INT REFERENCES concert, "
            "singer_id INT REFERENCES singer(singer_id));"
        )
    conn.close()
    assert foreign_keys_from_sqlite(db) == FK
