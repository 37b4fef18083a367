"""render_schema: tables.json entry -> CREATE TABLE lines with types, keys and quoted names."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.schema_prompt import SchemaError, render_schema

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

# A Spider-style entry: singer(singer_id PK, name, age), concert(concert_id PK, singer_id FK, concert name, year).
SPIDER_ENTRY = {
    "db_id": "concert_singer",
    "table_names_original": ["singer", "concert"],
    "column_names_original": [[-1, "*"], [0, "singer_id"], [0, "name"], [0, "age"], [1, "concert_id"], [1, "singer_id"], [1, "concert name"], [1, "year"]],
    "column_types": ["text", "number", "text", "number", "number", "number", "text", "time"],
    "primary_keys": [1, 4],
    "foreign_keys": [[5, 1]],
}

# A BIRD-style entry: composite primary key as a nested list, names with spaces and a leading digit.
BIRD_ENTRY = {
    "db_id": "student_club",
    "table_names_original": ["member", "attendance", "frpm table"],
    "column_names_original": [
        [-1, "*"],
        [0, "member_id"],
        [0, "first name"],
        [1, "link_to_event"],
        [1, "link_to_member"],
        [2, "CDSCode"],
        [2, "Percent (%) Eligible Free (K-12)"],
        [2, "2nd_score"],
    ],
    "column_types": ["text", "text", "text", "text", "text", "text", "real", "integer"],
    "primary_keys": [1, [3, 4], 5],
    "foreign_keys": [[4, 1]],
}


def lines_by_table(schema: str) -> dict[str, str]:
    lines = schema.splitlines()
    assert all(line.startswith("CREATE TABLE ") and line.endswith(");") for line in lines), schema
    return {line.split(" (", 1)[0].removeprefix("CREATE TABLE "): line for line in lines}


def test_spider_entry_renders_one_line_per_table() -> None:
    assert render_schema(SPIDER_ENTRY) == (
        "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);\n"
        'CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INTEGER REFERENCES singer(singer_id), "concert name" TEXT, year DATETIME);'
    )


def test_star_pseudo_column_is_not_rendered() -> None:
    assert "*" not in render_schema(SPIDER_ENTRY)


def test_rendered_schema_is_valid_sqlite_ddl() -> None:
    for entry in (SPIDER_ENTRY, BIRD_ENTRY):
        connection = sqlite3.connect(":memory:")
        connection.executescript(render_schema(entry))
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        connection.close()
        assert tables == set(entry["table_names_original"])


@pytest.mark.parametrize(
    ("column_type", "sql_type"),
    [
        ("number", "INTEGER"),
        ("text", "TEXT"),
        ("time", "DATETIME"),
        ("boolean", "BOOLEAN"),
        ("others", "TEXT"),
        pytest.param("integer", "INTEGER"),
        pytest.param("real", "REAL"),
        pytest.param("date", "DATE"),
        pytest.param("datetime", "DATETIME"),
    ],
)
def test_column_types(column_type: str, sql_type: str) -> None:
    entry = {
        "db_id": "types",
        "table_names_original": ["t"],
        "column_names_original": [[-1, "*"], [0, "c"]],
        "column_types": ["text", column_type],
        "primary_keys": [],
        "foreign_keys": [],
    }
    assert render_schema(entry) == f"CREATE TABLE t (c {sql_type});"


def test_composite_primary_key_is_not_marked_per_column() -> None:
    attendance = lines_by_table(render_schema(BIRD_ENTRY))["attendance"]
    # Two "PRIMARY KEY" column constraints on one table would be invalid DDL and wrong.
    assert attendance.count("PRIMARY KEY") <= 1
    assert "link_to_event TEXT PRIMARY KEY" not in attendance
    assert "link_to_member TEXT REFERENCES member(member_id)" in attendance


def test_single_keys_still_marked_next_to_a_nested_composite() -> None:
    lines = lines_by_table(render_schema(BIRD_ENTRY))
    assert "member_id TEXT PRIMARY KEY" in lines["member"]
    assert "CDSCode TEXT PRIMARY KEY" in lines['"frpm table"']


def test_flat_composite_primary_key_as_in_spider() -> None:
    entry = dict(SPIDER_ENTRY, primary_keys=[1, 4, 5])  # concert keyed by (concert_id, singer_id)
    lines = lines_by_table(render_schema(entry))
    assert "singer_id INTEGER PRIMARY KEY" in lines["singer"]
    assert "concert_id INTEGER PRIMARY KEY" not in lines["concert"]
    assert lines["concert"].count("PRIMARY KEY") <= 1


def test_composite_primary_key_is_rendered_as_a_table_constraint() -> None:
    attendance = lines_by_table(render_schema(BIRD_ENTRY))["attendance"]
    assert "PRIMARY KEY (link_to_event, link_to_member)" in attendance


@pytest.mark.parametrize(
    ("name", "rendered"),
    [
        ("singer_id", "singer_id"),
        ("CDSCode", "CDSCode"),
        ("first name", '"first name"'),
        ("Percent (%) Eligible Free (K-12)", '"Percent (%) Eligible Free (K-12)"'),
        ("2nd_score", '"2nd_score"'),
        ("T-shirt", '"T-shirt"'),
    ],
)
def test_column_name_quoting(name: str, rendered: str) -> None:
    entry = {
        "db_id": "q",
        "table_names_original": ["t"],
        "column_names_original": [[-1, "*"], [0, name]],
        "column_types": ["text", "text"],
        "primary_keys": [],
        "foreign_keys": [],
    }
    assert render_schema(entry) == f"CREATE TABLE t ({rendered} TEXT);"


def test_table_name_with_space_is_quoted_also_in_references() -> None:
    entry = {
        "db_id": "q",
        "table_names_original": ["order items", "orders"],
        "column_names_original": [[-1, "*"], [0, "item id"], [0, "order_id"], [1, "order_id"]],
        "column_types": ["text", "number", "number", "number"],
        "primary_keys": [1, 3],
        "foreign_keys": [[2, 3]],
    }
    lines = lines_by_table(render_schema(entry))
    assert lines['"order items"'] == 'CREATE TABLE "order items" ("item id" INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(order_id));'
    entry["foreign_keys"] = [[3, 1]]
    assert 'REFERENCES "order items"("item id")' in render_schema(entry)


@pytest.mark.parametrize("name", ["order", "From", "group"])
def test_keyword_names_are_quoted(name: str) -> None:
    entry = {
        "db_id": "kw",
        "table_names_original": [name],
        "column_names_original": [[-1, "*"], [0, name]],
        "column_types": ["text", "text"],
        "primary_keys": [],
        "foreign_keys": [],
    }
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(render_schema(entry))
    finally:
        connection.close()


def test_table_without_columns_still_listed() -> None:
    entry = dict(SPIDER_ENTRY, table_names_original=["singer", "concert", "empty"])
    assert render_schema(entry).splitlines()[-1] == "CREATE TABLE empty ();"


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e.pop("column_types"),
        lambda e: e.pop("table_names_original"),
        lambda e: e.pop("primary_keys"),
        lambda e: e.__setitem__("foreign_keys", [[5]]),  # not a (column, referenced) pair
        lambda e: e.__setitem__("primary_keys", ["id"]),  # not a column index
        lambda e: e.__setitem__("column_types", ["text", "number"]),  # fewer types than columns
    ],
    ids=["no_types", "no_tables", "no_primary_keys", "fk_not_a_pair", "pk_not_an_index", "types_too_short"],
)
def test_malformed_entry_raises_schema_error_naming_the_db(damage) -> None:
    entry = json.loads(json.dumps(SPIDER_ENTRY))
    damage(entry)
    with pytest.raises(SchemaError, match="'concert_singer'"):
        render_schema(entry)


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e.__setitem__("foreign_keys", [[5, 99]]),
        lambda e: e["column_names_original"].append([7, "orphan"]) or e["column_types"].append("text"),
        lambda e: e.__setitem__("primary_keys", [1, 99]),
    ],
    ids=["fk_out_of_range", "table_out_of_range", "pk_out_of_range"],
)
def test_out_of_range_index_raises_schema_error(damage) -> None:
    entry = json.loads(json.dumps(SPIDER_ENTRY))
    damage(entry)
    with pytest.raises(SchemaError, match="'concert_singer'"):
        render_schema(entry)


def test_schema_error_is_a_value_error() -> None:
    assert issubclass(SchemaError, ValueError)


@pytest.mark.parametrize("name", ["spider-dev/tables.json", "bird-dev/dev_tables.json"])
def test_every_real_schema_renders(name: str) -> None:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set T2SQL_SHARED_DATA)")
    for entry in json.loads(path.read_text(encoding="utf-8")):
        schema = render_schema(entry)
        assert schema.count("CREATE TABLE") == len(entry["table_names_original"]), entry["db_id"]


# --- sample values and the shrink steps ----------------------------------------------

from t2sql_pipeline.core.data.schema_prompt import (  # noqa: E402
    SAMPLE_VALUES_PREFIX,
    drop_sample_values,
    keep_referenced_tables,
    referenced_tables,
    schema_with_sample_values,
    table_of_line,
)


@pytest.fixture
def concert_db(tmp_path: Path) -> Path:
    path = tmp_path / "concert_singer.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    conn.execute('CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INTEGER, "concert name" TEXT, year TEXT)')
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", [(1, "Joe", 52), (2, "Ann", None), (3, "Joe", 29), (4, "Bo", 40), (5, "x" * 80, 33)])
    conn.executemany("INSERT INTO concert VALUES (?, ?, ?, ?)", [(1, 1, "Home", "2014"), (2, 3, None, "2015")])
    conn.commit()
    conn.close()
    return path


def test_sample_values_follow_each_table_line(concert_db: Path) -> None:
    schema = render_schema(SPIDER_ENTRY)
    with_values = schema_with_sample_values(schema, str(concert_db), 3).splitlines()
    assert with_values[0] == schema.splitlines()[0] and with_values[2] == schema.splitlines()[1]
    # distinct, non-null, first seen first, texts quoted, at most 3 per column
    assert with_values[1] == SAMPLE_VALUES_PREFIX + "singer_id: 1, 2, 3; name: 'Joe', 'Ann', 'Bo'; age: 52, 29, 40"
    assert with_values[3] == SAMPLE_VALUES_PREFIX + "concert_id: 1, 2; singer_id: 1, 3; concert name: 'Home'; year: '2014', '2015'"


def test_long_sample_values_are_cut(concert_db: Path) -> None:
    line = schema_with_sample_values(render_schema(SPIDER_ENTRY), str(concert_db), 5).splitlines()[1]
    assert "'xxxxxxxx" in line and "x" * 40 not in line and "...'" in line


def test_sample_values_are_read_read_only(concert_db: Path) -> None:
    before = concert_db.read_bytes()
    schema_with_sample_values(render_schema(SPIDER_ENTRY) + "\n", str(concert_db), 2)
    assert concert_db.read_bytes() == before


def test_zero_sample_values_leaves_the_schema_alone(concert_db: Path) -> None:
    schema = render_schema(SPIDER_ENTRY)
    assert schema_with_sample_values(schema, str(concert_db), 0) == schema


def test_table_in_schema_but_not_in_database_is_named(concert_db: Path) -> None:
    with pytest.raises(SchemaError, match=r"concert_singer.sqlite: table 'ghost' from the tables file"):
        schema_with_sample_values("CREATE TABLE ghost (id INTEGER);", str(concert_db), 2)


def test_table_of_line_unquotes() -> None:
    assert table_of_line('CREATE TABLE "frpm table" (x TEXT);') == "frpm table"
    assert table_of_line("CREATE TABLE singer (x TEXT);") == "singer"
    assert table_of_line(SAMPLE_VALUES_PREFIX + "x: 1") is None


def test_drop_sample_values_keeps_every_table(concert_db: Path) -> None:
    schema = render_schema(SPIDER_ENTRY)
    assert drop_sample_values(schema_with_sample_values(schema, str(concert_db), 2), "SELECT 1") == schema


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT count(*) FROM singer", {"singer"}),
        ("SELECT T1.name FROM Singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id", {"singer", "concert"}),
        ("SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM concert)", {"singer", "concert"}),
        ("WITH c AS (SELECT * FROM concert) SELECT count(*) FROM c", {"concert"}),
        ('SELECT "first name" FROM "member"', {"member"}),
        ("SELEC nonsense FROM (", set()),
    ],
)
def test_referenced_tables(sql: str, expected: set[str]) -> None:
    assert referenced_tables(sql) == expected


def test_keep_referenced_tables_keeps_their_sample_lines(concert_db: Path) -> None:
    schema = schema_with_sample_values(render_schema(SPIDER_ENTRY), str(concert_db), 2)
    kept = keep_referenced_tables(schema, "SELECT year FROM concert").splitlines()
    assert [table_of_line(line) for line in kept] == ["concert", None] and kept[1].startswith(SAMPLE_VALUES_PREFIX)


def test_keep_referenced_tables_unchanged_when_sql_does_not_parse() -> None:
    schema = render_schema(SPIDER_ENTRY)
    assert keep_referenced_tables(schema, "SELEC nonsense FROM (") == schema
