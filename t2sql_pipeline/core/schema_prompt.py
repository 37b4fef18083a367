"""Render a database schema as compact CREATE TABLE statements for the prompt.

>>> entry = {"table_names_original": ["t"], "column_names_original": [[-1, "*"], [0, "id"], [0, "name"]],
...          "column_types": ["text", "number", "text"], "primary_keys": [1], "foreign_keys": []}
>>> print(render_schema(entry))
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
"""

from __future__ import annotations

from typing import Any

# Spider's column types mapped to the SQLite types a model has seen in real DDL.
_SQL_TYPES = {"number": "INTEGER", "text": "TEXT", "time": "DATETIME", "boolean": "BOOLEAN", "others": "TEXT"}


class SchemaError(ValueError):
    """A tables.json entry that does not describe a consistent schema."""


def render_schema(tables_entry: dict[str, Any]) -> str:
    """One `CREATE TABLE` line per table: column types, primary and foreign keys."""
    try:
        tables: list[str] = tables_entry["table_names_original"]
        columns: list[list[Any]] = tables_entry["column_names_original"]
        types: list[str] = tables_entry["column_types"]
        primary = _flatten_keys(tables_entry["primary_keys"])
        foreign = {int(col): int(ref) for col, ref in tables_entry["foreign_keys"]}
    except (KeyError, TypeError, ValueError) as error:
        raise SchemaError(f"tables entry {tables_entry.get('db_id', '?')!r}: malformed ({error!r})") from None
    if len(types) != len(columns):
        raise SchemaError(f"tables entry {tables_entry.get('db_id', '?')!r}: {len(columns)} columns but {len(types)} types")
    per_table: dict[int, list[str]] = {index: [] for index in range(len(tables))}
    for index, (table_index, name) in enumerate(columns):
        if table_index < 0:
            continue  # Spider's "*" pseudo-column
        parts = [_quote(name), _SQL_TYPES.get(types[index], "TEXT")]
        if index in primary and _single_primary_key(table_index, primary, columns):
            parts.append("PRIMARY KEY")
        if index in foreign:
            ref_table, ref_column = columns[foreign[index]]
            parts.append(f"REFERENCES {_quote(tables[ref_table])}({_quote(ref_column)})")
        per_table[table_index].append(" ".join(parts))
    return "\n".join(f"CREATE TABLE {_quote(tables[i])} ({', '.join(cols)});" for i, cols in per_table.items())


def _flatten_keys(keys: list[Any]) -> set[int]:
    # BIRD lists composite primary keys as nested lists.
    flat: set[int] = set()
    for key in keys:
        flat.update(int(k) for k in key) if isinstance(key, list) else flat.add(int(key))
    return flat


def _single_primary_key(table_index: int, primary: set[int], columns: list[list[Any]]) -> bool:
    return sum(1 for index in primary if columns[index][0] == table_index) == 1


def _quote(name: str) -> str:
    return name if name.replace("_", "").isalnum() and not name[:1].isdigit() else f'"{name}"'
