"""Opening a SQLite database file read-only, and quoting an identifier: the one home of both.

The path goes into a `file:` URI percent-quoted, so a `?` or `#` or `%` in a folder name cannot be read as
URI syntax (an unquoted `?mode=ro` after such a path opens the wrong file or none).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote


def read_only_uri(db_path: Path) -> str:
    """The `file:` URI that opens `db_path` read-only (absolute, percent-quoted)."""
    return f"file:{quote(str(Path(db_path).resolve()))}?mode=ro"


def connect_read_only(db_path: Path, **options: object) -> sqlite3.Connection:
    """`sqlite3.connect` on `db_path` read-only; `options` as for `sqlite3.connect` (e.g. `check_same_thread`)."""
    return sqlite3.connect(read_only_uri(db_path), uri=True, **options)  # type: ignore[arg-type]


@contextmanager
def read_only_connection(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection closed on leaving the block (`with sqlite3.connect(...)` commits, it does not close)."""
    conn = connect_read_only(db_path)
    try:
        yield conn
    finally:
        conn.close()


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier, inner quotes doubled: safe for any table or column name."""
    return '"' + name.replace('"', '""') + '"'
