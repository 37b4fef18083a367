"""Render a database schema as compact CREATE TABLE statements for the prompt.

>>> entry = {"table_names_original": ["t"], "column_names_original": [[-1, "*"], [0, "id"], [0, "name"]],
...          "column_types": ["text", "number", "text"], "primary_keys": [1], "foreign_keys": []}
>>> print(render_schema(entry))
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any

# Spider's and BIRD's column types mapped to the SQLite types a model has seen in real DDL.
_SQL_TYPES = {
    "number": "INTEGER", "integer": "INTEGER", "real": "REAL", "text": "TEXT", "time": "DATETIME",
    "date": "DATE", "datetime": "DATETIME", "boolean": "BOOLEAN", "blob": "BLOB", "others": "TEXT",
}


class SchemaError(ValueError):
    """A tables.json entry that does not describe a consistent schema."""


def render_schema(tables_entry: dict[str, Any]) -> str:
    """One `CREATE TABLE` line per table: column types, primary and foreign keys."""
    db_id = tables_entry.get("db_id", "?")
    try:
        return _render(tables_entry)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise SchemaError(f"tables entry {db_id!r}: malformed ({error!r})") from None


def _render(tables_entry: dict[str, Any]) -> str:
    tables: list[str] = tables_entry["table_names_original"]
    columns: list[list[Any]] = tables_entry["column_names_original"]
    types: list[str] = tables_entry["column_types"]
    if len(types) != len(columns):
        raise ValueError(f"{len(columns)} columns but {len(types)} types")
    primary = _primary_keys_by_table(tables_entry["primary_keys"], columns)
    foreign = {int(col): int(ref) for col, ref in tables_entry["foreign_keys"]}
    per_table: dict[int, list[str]] = {index: [] for index in range(len(tables))}
    for index, (table_index, name) in enumerate(columns):
        if table_index < 0:
            continue  # Spider's "*" pseudo-column
        if table_index not in per_table:
            raise IndexError(f"column {index} names table {table_index}, but there are {len(tables)} tables")
        parts = [_quote(name), _SQL_TYPES.get(str(types[index]).lower(), "TEXT")]
        if primary.get(table_index) == [index]:
            parts.append("PRIMARY KEY")
        if index in foreign:
            ref_table, ref_column = columns[foreign[index]]
            parts.append(f"REFERENCES {_quote(tables[ref_table])}({_quote(ref_column)})")
        per_table[table_index].append(" ".join(parts))
    for table_index, keys in primary.items():
        if len(keys) > 1:  # a composite key is a table constraint
            per_table[table_index].append(f"PRIMARY KEY ({', '.join(_quote(columns[k][1]) for k in keys)})")
    return "\n".join(f"CREATE TABLE {_quote(tables[i])} ({', '.join(cols)});" for i, cols in per_table.items())


def _primary_keys_by_table(keys: list[Any], columns: list[list[Any]]) -> dict[int, list[int]]:
    # Spider lists one column index per key; BIRD nests composite keys as lists.
    flat: list[int] = []
    for key in keys:
        flat.extend(int(k) for k in key) if isinstance(key, list) else flat.append(int(key))
    by_table: dict[int, list[int]] = {}
    for index in sorted(set(flat)):
        by_table.setdefault(int(columns[index][0]), []).append(index)
    return by_table


@lru_cache(maxsize=4096)
def _quote(name: str) -> str:
    """Quote a name only when SQLite would not accept it bare (spaces, reserved words like `order`)."""
    if name.replace("_", "").isalnum() and not name[:1].isdigit():
        try:
            sqlite3.connect(":memory:").execute(f"CREATE TABLE {name} ({name} INTEGER)")
        except sqlite3.Error:  # a reserved word
            return _quoted(name)
        return name
    return _quoted(name)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
