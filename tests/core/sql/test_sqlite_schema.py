"""The one SQLite schema reader: tables in file order, views and internal tables on request, keys."""

import sqlite3
from pathlib import Path

from t2sql_pipeline.core.sql.sqlite_schema import read_sqlite_schema


def test_tables_columns_keys_views_and_internal_tables(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE parent (b TEXT, a INTEGER, PRIMARY KEY (a, b));
            CREATE TABLE child (id INTEGER PRIMARY KEY AUTOINCREMENT, pa INTEGER, pb TEXT, FOREIGN KEY (pa, pb) REFERENCES parent);
            CREATE VIEW v AS SELECT id FROM child;
            INSERT INTO child (pa, pb) VALUES (1, 'x');
            """
        )
    conn.close()
    assert [t.name for t in read_sqlite_schema(path)] == ["parent", "child", "sqlite_sequence"]  # the official reader's list
    assert [t.name for t in read_sqlite_schema(path, internal=False, views=True)] == ["parent", "child", "v"]
    parent, child = read_sqlite_schema(path, internal=False)
    assert parent.primary_key == ["a", "b"]  # key order, not column order
    assert [(c.name, c.declared_type) for c in parent.columns] == [("b", "TEXT"), ("a", "INTEGER")]
    assert [(k.column, k.parent_table, k.parent_column, k.position) for k in child.foreign_keys] == [("pa", "parent", None, 0), ("pb", "parent", None, 1)]
