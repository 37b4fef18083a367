"""Reading a SQLite file's schema: tables (or views), their columns with declared types and primary-key
positions, and their foreign keys, in the file's order. The one reader behind the official evaluator's
schema, the Spider `tables.json` entry, the prompt's CREATE TABLE text and the executor's column lists.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from t2sql_pipeline.core.sql.sqlite_files import quote_identifier, read_only_connection


@dataclass(frozen=True)
class SqliteColumn:
    name: str
    declared_type: str
    primary_key_position: int  # 1-based position in the primary key; 0 when not part of it


@dataclass(frozen=True)
class SqliteForeignKey:
    column: str
    parent_table: str
    parent_column: str | None  # None: `REFERENCES parent` without a column (the parent's primary key)
    position: int  # 0-based position within a composite key


@dataclass(frozen=True)
class SqliteTable:
    name: str
    columns: tuple[SqliteColumn, ...]
    foreign_keys: tuple[SqliteForeignKey, ...]

    @property
    def primary_key(self) -> list[str]:
        """Primary-key columns in key order."""
        return [c.name for c in sorted((c for c in self.columns if c.primary_key_position), key=lambda c: c.primary_key_position)]


def read_sqlite_schema(db_path: Path, *, views: bool = False, internal: bool = True, conn: sqlite3.Connection | None = None) -> tuple[SqliteTable, ...]:
    """Tables of `db_path` in the file's order (opened read-only, or read through `conn`); with `views`, views too;
    without `internal`, no `sqlite_%` tables (sqlite_sequence, sqlite_stat1)."""
    if conn is None:
        with read_only_connection(db_path) as own:
            return read_sqlite_schema(db_path, views=views, internal=internal, conn=own)
    kinds = "('table', 'view')" if views else "('table')"
    names = [str(row[0]) for row in conn.execute(f"SELECT name FROM sqlite_master WHERE type IN {kinds} ORDER BY rowid")]
    if not internal:
        names = [name for name in names if not name.lower().startswith("sqlite_")]
    tables = []
    for name in names:
        quoted = quote_identifier(name)
        # table_info rows: (cid, name, type, notnull, default, pk); foreign_key_list rows: (id, seq, table, from, to, ...)
        columns = tuple(SqliteColumn(str(row[1]), str(row[2] or ""), int(row[5])) for row in conn.execute(f"PRAGMA table_info({quoted})"))
        keys = tuple(
            SqliteForeignKey(str(row[3]), str(row[2]), None if row[4] is None else str(row[4]), int(row[1]))
            for row in conn.execute(f"PRAGMA foreign_key_list({quoted})")
        )
        tables.append(SqliteTable(name, columns, keys))
    return tuple(tables)
