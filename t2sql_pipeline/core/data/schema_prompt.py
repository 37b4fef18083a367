"""Render a database schema as compact CREATE TABLE statements for the prompt.

>>> entry = {"table_names_original": ["t"], "column_names_original": [[-1, "*"], [0, "id"], [0, "name"]],
...          "column_types": ["text", "number", "text"], "primary_keys": [1], "foreign_keys": []}
>>> print(render_schema(entry))
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.sql.sqlite_files import quote_identifier

# Spider's and BIRD's column types mapped to the SQLite types a model has seen in real DDL.
_SQL_TYPES = {
    "number": "INTEGER",
    "integer": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "time": "DATETIME",
    "date": "DATE",
    "datetime": "DATETIME",
    "boolean": "BOOLEAN",
    "blob": "BLOB",
    "others": "TEXT",
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
            return quote_identifier(name)
        return name
    return quote_identifier(name)


# --- sample values and shrinking to a token budget -----------------------------------

SAMPLE_VALUES_PREFIX = "-- examples: "
_ROWS_SCANNED = 200  # distinct values come from the first rows only: bounded cost on BIRD's million-row tables
_MAX_VALUE_CHARS = 40  # long texts (descriptions, JSON) would crowd out the schema
_CREATE_LINE = re.compile(r'^CREATE TABLE ("(?:[^"]|"")*"|\S+) \(')


def table_of_line(line: str) -> str | None:
    """The (unquoted) table name of a `CREATE TABLE` line, or None for any other line."""
    match = _CREATE_LINE.match(line)
    if not match:
        return None
    name = match.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


@lru_cache(maxsize=256)
def schema_with_sample_values(schema: str, db_path: str, per_column: int) -> str:
    """Add, under each `CREATE TABLE` line, `-- examples: col: v1, v2; ...` read read-only from `db_path`.

    Cached per (schema, database): every question on a database shares one rendering.
    """
    if per_column <= 0:
        return schema
    from t2sql_pipeline.core.sql.execution import open_readonly

    conn = open_readonly(Path(db_path), text_decoding="ignore")  # Spider has a few non-UTF-8 texts
    try:
        lines: list[str] = []
        for line in schema.splitlines():
            lines.append(line)
            table = table_of_line(line)
            if table is not None and (values := _sample_values(conn, table, per_column, db_path)):
                lines.append(SAMPLE_VALUES_PREFIX + values)
        return "\n".join(lines)
    finally:
        conn.close()


def _sample_values(conn: sqlite3.Connection, table: str, per_column: int, db_path: str) -> str:
    try:
        cursor = conn.execute(f"SELECT * FROM {quote_identifier(table)} LIMIT {_ROWS_SCANNED}")
    except sqlite3.Error as error:  # a table in tables.json but not in the file: name both
        raise SchemaError(f"{db_path}: table {table!r} from the tables file cannot be read for sample values ({error})") from None
    names = [column[0] for column in cursor.description]
    seen: list[dict[str, None]] = [{} for _ in names]  # dicts keep first-seen order
    for row in cursor.fetchall():
        for index, value in enumerate(row):
            if value is None or isinstance(value, bytes) or len(seen[index]) >= per_column:
                continue
            text = repr(value) if isinstance(value, str) else str(value)
            seen[index].setdefault(text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 4] + "...'", None)
    return "; ".join(f"{name}: {', '.join(values)}" for name, values in zip(names, seen, strict=True) if values)


def drop_sample_values(schema: str, gold_sql: str) -> str:
    """Shrink step (a): the schema without its `-- examples:` lines."""
    return "\n".join(line for line in schema.splitlines() if not line.startswith(SAMPLE_VALUES_PREFIX))


def keep_referenced_tables(schema: str, gold_sql: str) -> str:
    """Shrink step (b): only the tables the gold SQL reads (with their sample lines).

    Unchanged when the gold SQL cannot be parsed: we cannot know what it needs.
    """
    referenced = referenced_tables(gold_sql)
    if not referenced:
        return schema
    kept: list[str] = []
    keep = False
    for line in schema.splitlines():
        table = table_of_line(line)
        if table is not None:
            keep = table.lower() in referenced
        if keep:
            kept.append(line)
    return "\n".join(kept) if kept else schema


def referenced_tables(sql: str) -> frozenset[str]:
    """Lower-case names of the tables `sql` reads (CTE names excluded); empty when it does not parse."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return frozenset()
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes)
