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
from t2sql_pipeline.core.sql.sqlite_files import connect_read_only
from t2sql_pipeline.core.sql.sqlite_schema import read_sqlite_schema


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
    schema = read_sqlite_schema(db_path, internal=False, conn=conn)
    if not schema:
        raise SchemaError(f"{db_path}: the database has no tables")
    tables = [table.name for table in schema]
    columns: list[list[Any]] = [[-1, "*"]]
    types = ["text"]
    primary: list[int] = []
    index_of: dict[tuple[str, str], int] = {}
    for table_index, table in enumerate(schema):
        for column in table.columns:
            index_of[(table.name.lower(), column.name.lower())] = len(columns)
            columns.append([table_index, column.name])
            types.append(spider_column_type(column.declared_type))
        primary.extend(index_of[(table.name.lower(), name.lower())] for name in table.primary_key)
    keys_of = {table.name.lower(): table.primary_key for table in schema}  # for foreign keys without a target column
    foreign: list[list[int]] = []
    for table in schema:
        for key in table.foreign_keys:
            parent_column = key.parent_column
            if parent_column is None:  # REFERENCES parent without a column: the parent's primary key
                parent_keys = keys_of.get(key.parent_table.lower(), [])
                parent_column = parent_keys[key.position] if key.position < len(parent_keys) else None
            source = index_of.get((table.name.lower(), key.column.lower()))
            target = index_of.get((key.parent_table.lower(), (parent_column or "").lower()))
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
