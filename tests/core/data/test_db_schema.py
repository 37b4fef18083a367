"""The schema of a SQLite file, rendered as training renders the tables.json entry of the same database."""

import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.db_schema import render_database_schema, tables_entry_from_sqlite
from t2sql_pipeline.core.data.schema_prompt import SchemaError, render_schema, schema_with_sample_values
from t2sql_pipeline.core.data.sources.synthetic import tables_json_entry, write_synthetic_spider
from t2sql_pipeline.core.data.sources.synthetic_schemas import DATABASES


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_spider(tmp_path_factory.mktemp("synthetic"), sorted(DATABASES), rows_per_table=12, questions_per_database=5, seed=3)


@pytest.mark.parametrize("db_id", sorted(DATABASES))
def test_file_schema_equals_the_tables_json_rendering_training_uses(synthetic_dir: Path, db_id: str) -> None:
    db_path = synthetic_dir / "database" / db_id / f"{db_id}.sqlite"
    assert render_database_schema(db_path) == render_schema(tables_json_entry(db_id))
    expected = schema_with_sample_values(render_schema(tables_json_entry(db_id)), str(db_path), 2)
    assert render_database_schema(db_path, sample_values=2) == expected and "-- examples: " in expected


def make_db(path: Path, script: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()
    return path


def test_types_keys_and_quoting(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "shop.sqlite",
        'CREATE TABLE "order" (id INTEGER, "line no" INT, note VARCHAR(30), PRIMARY KEY (id, "line no"));'
        "CREATE TABLE parent (pid INTEGER PRIMARY KEY, born DATE);"
        "CREATE TABLE child (cid int, p int REFERENCES parent, amount REAL, flag BOOLEAN, data BLOB, o INTEGER, "
        'FOREIGN KEY (o) REFERENCES "order"(id));',
    )
    assert render_database_schema(db).splitlines() == [
        'CREATE TABLE "order" (id INTEGER, "line no" INTEGER, note TEXT, PRIMARY KEY (id, "line no"));',
        "CREATE TABLE parent (pid INTEGER PRIMARY KEY, born DATETIME);",
        'CREATE TABLE child (cid INTEGER, p INTEGER REFERENCES parent(pid), amount INTEGER, flag BOOLEAN, data TEXT, o INTEGER REFERENCES "order"(id));',
    ]
    assert tables_entry_from_sqlite(db)["db_id"] == "shop"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        render_database_schema(tmp_path / "nope.sqlite")


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("just text, long enough to not look like an empty database file " * 4)
    with pytest.raises(SchemaError, match="notes.sqlite"):
        render_database_schema(path)


def test_a_database_without_tables_is_refused(tmp_path: Path) -> None:
    empty = make_db(tmp_path / "empty.sqlite", "CREATE VIEW v AS SELECT 1;")
    with pytest.raises(SchemaError, match="no tables"):
        render_database_schema(empty)
