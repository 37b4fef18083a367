"""What the page shows about a database: its tables and columns (keys marked), and the first rows of a query.

Queries run on a read-only connection (`core.sql.execution.open_readonly`: query_only, an authorizer that
denies every write) after a statement check that refuses anything but SELECT/WITH/VALUES, within a
time limit; at most `max_rows` rows come back, and rows are counted up to `count_cap`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ColumnView:
    name: str
    type: str  # as Spider's tables.json types it: number, text, time, ...
    primary_key: bool
    references: str | None  # "table.column" of a foreign key


@dataclass(frozen=True)
class TableView:
    name: str
    columns: tuple[ColumnView, ...]


def database_tables(db_path: Path) -> tuple[TableView, ...]:
    """The tables of `db_path` in file order, each column with its type and keys."""
    from t2sql_pipeline.core.data.db_schema import tables_entry_from_sqlite

    entry = tables_entry_from_sqlite(db_path)
    tables: list[str] = entry["table_names_original"]
    columns: list[list[Any]] = entry["column_names_original"]
    primary = set(entry["primary_keys"])
    foreign = {int(col): int(ref) for col, ref in entry["foreign_keys"]}
    views: dict[int, list[ColumnView]] = {index: [] for index in range(len(tables))}
    for index, (table_index, name) in enumerate(columns):
        if table_index < 0:
            continue  # the "*" pseudo-column
        target = foreign.get(index)
        references = f"{tables[columns[target][0]]}.{columns[target][1]}" if target is not None else None
        views[table_index].append(ColumnView(name, entry["column_types"][index], index in primary, references))
    return tuple(TableView(tables[index], tuple(cols)) for index, cols in views.items())


class QueryRefused(ValueError):
    """A statement that is not a read (INSERT, DELETE, PRAGMA, ...), refused before it runs."""


class QueryFailed(ValueError):
    """A read that SQLite rejected, or that ran past its time limit."""


@dataclass(frozen=True)
class QueryRows:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]  # the first `max_rows`
    row_count: int  # all rows, up to `count_cap`
    count_capped: bool  # there are more than `count_cap` rows
    seconds: float


def run_readonly(db_path: Path, sql: str, *, timeout_s: float = 5.0, max_rows: int = 50, count_cap: int = 100_000) -> QueryRows:
    """Run one read statement on `db_path`; raises QueryRefused or QueryFailed with a one-line reason."""
    from t2sql_pipeline.core.sql.execution import is_read_statement, open_readonly

    statement = sql.strip().rstrip(";").strip()
    if not statement:
        raise QueryRefused("there is no SQL to run")
    if not is_read_statement(statement):
        raise QueryRefused(f"refused: {statement.split(None, 1)[0].upper()[:30]} statements do not run here (only SELECT, WITH and VALUES, read-only)")
    conn = open_readonly(db_path, text_decoding="ignore")
    started = time.monotonic()
    deadline = started + timeout_s
    conn.set_progress_handler(lambda: int(time.monotonic() >= deadline), 2_000)
    try:
        cursor = conn.execute(statement)
        columns = tuple(str(d[0]) for d in cursor.description or ())
        rows = cursor.fetchmany(max_rows)
        count = len(rows)
        while count <= count_cap and (batch := cursor.fetchmany(1024)):
            count += len(batch)
        return QueryRows(columns, tuple(_cell(row) for row in rows), min(count, count_cap), count > count_cap, time.monotonic() - started)
    except sqlite3.Error as error:
        if time.monotonic() >= deadline:
            raise QueryFailed(f"the query ran past the {timeout_s:g} s limit") from None
        if "not authorized" in str(error):  # the authorizer: a write hidden inside a read (e.g. a CTE with DELETE)
            raise QueryRefused(f"refused by the read-only connection: {error}") from None
        raise QueryFailed(f"{type(error).__name__}: {error}") from None
    finally:
        conn.close()


def _cell(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # JSON has no bytes: a BLOB is shown by its size.
    return tuple(f"<{len(v)} bytes>" if isinstance(v, bytes) else v for v in row)
