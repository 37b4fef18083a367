"""The prompt schema of a SQLite file, rendered exactly as training renders a `tables.json` entry.

Serving gets a database file, not a tables file: `tables_entry_from_sqlite` reads
the file's tables, declared types, primary and foreign keys into a Spider-format
entry (types mapped the way Spider's own `get_tables.py` maps them), and
`render_database_schema` renders it with `render_schema`, plus sample values
when the model was trained with them.

>>> import sqlite3, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.sqlite"
>>> sqlite3.connect(path).executescript("CREATE TABLE t(id INTEGER PRIMARY KEY, name VARCHAR(20));")  # doctest: +ELLIPSIS
<sqlite3.Cursor object at ...>
>>> print(render_database_schema(path))
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.data.schema_prompt import SchemaError, render_schema, schema_with_sample_values
from t2sql_pipeline.core.sql.sqlite_files import connect_read_only, quote_identifier


def spider_column_type(declared: str) -> str:
    """A declared SQLite column type as Spider's `tables.json` records it (text, number, time, boolean, others).

    >>> [spider_column_type(t) for t in ("VARCHAR(20)", "", "DOUBLE", "DATETIME", "bool", "BLOB")]
    ['text', 'text', 'number', 'time', 'boolean', 'others']
    """
    kind = declared.lower()
    if not kind or any(word in kind for word in ("char", "text", "var")):
        return "text"
    if any(word in kind for word in ("int", "numeric", "decimal", "number", "id", "real", "double", "float")):
        return "number"
    if any(word in kind for word in ("date", "time", "year")):
        return "time"
    if any(word in kind for word in ("boolean", "bit", "bool")):
        return "boolean"
    return "others"


def tables_entry_from_sqlite(db_path: Path) -> dict[str, Any]:
    """A Spider-format `tables.json` entry read from the file's tables (opened read-only)."""
    if not db_path.is_file():
        raise FileNotFoundError(f"database file not found: {db_path}")
    conn = connect_read_only(db_path)
    try:
        return _read_entry(conn, db_path)
    except sqlite3.DatabaseError as error:  # e.g. "file is not a database"
        raise SchemaError(f"{db_path}: cannot read the schema ({error})") from None
    finally:
        conn.close()


def _read_entry(conn: sqlite3.Connection, db_path: Path) -> dict[str, Any]:
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    if not tables:
        raise SchemaError(f"{db_path}: the database has no tables")
    columns: list[list[Any]] = [[-1, "*"]]
    types = ["text"]
    primary: list[int] = []
    index_of: dict[tuple[str, str], int] = {}
    keys_of: dict[str, list[str]] = {}  # table -> primary-key columns in key order (for foreign keys without a target column)
    for table_index, table in enumerate(tables):
        info = list(conn.execute(f"PRAGMA table_info({quote_identifier(table)})"))
        for _cid, name, declared, _notnull, _default, pk in info:
            index_of[(table.lower(), name.lower())] = len(columns)
            columns.append([table_index, name])
            types.append(spider_column_type(declared or ""))
        keyed = sorted((pk, name) for _cid, name, _t, _n, _d, pk in info if pk)
        keys_of[table.lower()] = [name for _pk, name in keyed]
        primary.extend(index_of[(table.lower(), name.lower())] for _pk, name in keyed)
    foreign: list[list[int]] = []
    for table in tables:
        for _id, seq, parent, child_column, parent_column, *_ in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(table)})"):
            if parent_column is None:  # REFERENCES parent without a column: the parent's primary key
                parent_keys = keys_of.get(parent.lower(), [])
                parent_column = parent_keys[seq] if seq < len(parent_keys) else None
            source = index_of.get((table.lower(), child_column.lower()))
            target = index_of.get((parent.lower(), (parent_column or "").lower()))
            if source is not None and target is not None:  # a key to a missing table says nothing usable
                foreign.append([source, target])
    return {
        "db_id": db_path.stem,
        "table_names_original": tables,
        "column_names_original": columns,
        "column_types": types,
        "primary_keys": primary,
        "foreign_keys": foreign,
    }


def render_database_schema(db_path: Path, sample_values: int = 0) -> str:
    """CREATE TABLE text of `db_path` as a training prompt shows it (with `sample_values` per column when > 0)."""
    schema = render_schema(tables_entry_from_sqlite(db_path))
    return schema_with_sample_values(schema, str(db_path), sample_values) if sample_values > 0 else schema
