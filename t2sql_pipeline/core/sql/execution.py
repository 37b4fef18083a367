"""Safe, read-only execution of untrusted SQL against SQLite files.

Predictions are model output: they may try to write, attach other files, load
extensions or run forever. Several independent layers stop that, because each
one alone has holes:

1. the file is opened with a ``mode=ro`` URI and ``PRAGMA query_only`` is on;
2. an authorizer allows only reads, SELECT, recursive CTEs and ordinary
   functions (no ``load_extension``), so ATTACH, PRAGMA and all DDL/DML fail
   at prepare time, before anything runs;
3. ``SQLITE_LIMIT_ATTACHED`` is 0, which also stops ``VACUUM INTO`` (it
   attaches its target internally), and a statement that does not start with
   SELECT/WITH/VALUES is refused before SQLite sees it;
4. a progress handler interrupts the query at its deadline, the fetch stops
   at a row cap, and `WorkerPool` kills a worker that still overruns.

>>> import sqlite3, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.sqlite"
>>> sqlite3.connect(path).executescript("CREATE TABLE t(x); INSERT INTO t VALUES (1);")  # doctest: +ELLIPSIS
<sqlite3.Cursor object at ...>
>>> execute_readonly(path, "SELECT x FROM t").rows
((1,),)
>>> execute_readonly(path, "DELETE FROM t").error_kind
'runtime'
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from t2sql_pipeline.core.sql.sqlite_files import connect_read_only
from t2sql_pipeline.core.sql.sqlite_schema import read_sqlite_schema

T = TypeVar("T")
R = TypeVar("R")
ErrorKind = Literal["syntax", "runtime", "timeout"]
TextDecoding = Literal["strict", "ignore"]

_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE})
_DENIED_FUNCTIONS = frozenset({"load_extension"})
# A read starts with one of these once comments, whitespace and "(" are skipped.
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$)|\()*", re.DOTALL)
_READ_KEYWORDS = ("select", "with", "values")
_OTHER_STATEMENTS = frozenset(
    "alter analyze attach begin commit create delete detach drop end explain insert pragma reindex release "
    "replace rollback savepoint update upsert vacuum".split()
)
_SYNTAX_MARKERS = ("syntax error", "incomplete input", "unrecognized token", "one statement at a time")
_PROGRESS_EVERY_N_OPS = 2_000  # ~tens of microseconds of VM work between deadline checks


@dataclass(frozen=True)
class ExecLimits:
    """Bounds on one query: wall-clock seconds, fetched rows, bytes per value."""

    timeout_s: float = 30.0
    max_rows: int = 100_000
    max_value_bytes: int = 16 * 1024 * 1024  # SQLITE_LIMIT_LENGTH: any string/blob SQLite builds
    max_result_bytes: int = 256 * 1024 * 1024  # text+blob bytes fetched into Python


@dataclass(frozen=True)
class ExecResult:
    """Rows of a query, or why there are none (`error_kind` + `error`)."""

    rows: tuple[tuple[Any, ...], ...] | None
    error_kind: ErrorKind | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error_kind is None


class _Interrupt:
    """Progress handler: a non-zero return makes SQLite abort with 'interrupted'."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def __call__(self) -> int:
        if time.monotonic() >= self.deadline:
            self.fired = True
            return 1
        return 0


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def open_readonly(db_path: Path, *, text_decoding: TextDecoding = "strict") -> sqlite3.Connection:
    """Open `db_path` so that nothing run on the connection can change any file.

    `text_decoding="ignore"` drops undecodable bytes from TEXT values (what the
    Spider test-suite evaluator does); "strict" raises, like a plain connection.
    """
    if not db_path.is_file():
        raise FileNotFoundError(f"database file not found: {db_path}")
    conn = connect_read_only(db_path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, ExecLimits.max_value_bytes)
    if hasattr(conn, "enable_load_extension"):  # absent when Python's SQLite cannot load any
        conn.enable_load_extension(False)
    conn.set_authorizer(_authorize)
    if text_decoding == "ignore":
        conn.text_factory = lambda raw: raw.decode(errors="ignore")
    return conn


def is_read_statement(sql: str) -> bool:
    """True when `sql`, past comments and brackets, starts with SELECT/WITH/VALUES."""
    rest = sql[_LEADING_NOISE.match(sql).end() :].lower()  # type: ignore[union-attr]
    return rest.startswith(_READ_KEYWORDS) or rest == ""


def classify_error(exc: Exception) -> ErrorKind:
    """Map an execution exception to an error kind ("timeout" is decided by the caller)."""
    message = str(exc).lower()
    return "syntax" if any(marker in message for marker in _SYNTAX_MARKERS) else "runtime"


def run_query(conn: sqlite3.Connection, sql: str, limits: ExecLimits) -> ExecResult:
    """Run one statement on an `open_readonly` connection within `limits`."""
    start = time.monotonic()
    if not is_read_statement(sql):
        first = sql[_LEADING_NOISE.match(sql).end() :].split(None, 1)[0].lower()  # type: ignore[union-attr]
        if first in _OTHER_STATEMENTS:
            return ExecResult(None, "runtime", f"refused: {first.upper()} (only SELECT/WITH/VALUES may run)", 0.0)
        return ExecResult(None, "syntax", f"near {first[:40]!r}: not an SQL statement", 0.0)
    interrupt = _Interrupt(start + limits.timeout_s)
    conn.set_progress_handler(interrupt, _PROGRESS_EVERY_N_OPS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.max_value_bytes)
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = []
        n_bytes = 0
        while batch := cursor.fetchmany(1024):
            rows.extend(batch)
            if len(rows) > limits.max_rows:
                message = f"result exceeds the row cap of {limits.max_rows} rows"
                return ExecResult(None, "runtime", message, time.monotonic() - start)
            n_bytes += sum(len(v) for row in batch for v in row if isinstance(v, (str, bytes)))
            if n_bytes > limits.max_result_bytes:
                message = f"result exceeds the cap of {limits.max_result_bytes} bytes"
                return ExecResult(None, "runtime", message, time.monotonic() - start)
        return ExecResult(tuple(rows), None, None, time.monotonic() - start)
    except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError, MemoryError) as exc:
        seconds = time.monotonic() - start
        if interrupt.fired:
            return ExecResult(None, "timeout", f"timed out after {limits.timeout_s:g} s", seconds)
        return ExecResult(None, classify_error(exc), f"{type(exc).__name__}: {exc}", seconds)
    finally:
        cursor.close()
        conn.set_progress_handler(None, 0)


_CONNECTIONS: dict[tuple[Path, TextDecoding], tuple[sqlite3.Connection, tuple[int, int, int]]] = {}


def cached_connection(db_path: Path, text_decoding: TextDecoding = "strict") -> sqlite3.Connection:
    """A per-process read-only connection to `db_path`, reopened if the file was replaced."""
    key = (db_path, text_decoding)
    stat = db_path.stat()
    version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _CONNECTIONS.get(key)
    if cached is not None and cached[1] == version:
        return cached[0]
    if cached is not None:
        cached[0].close()
    conn = open_readonly(db_path, text_decoding=text_decoding)
    _CONNECTIONS[key] = (conn, version)
    return conn


def execute_readonly(
    db_path: Path,
    sql: str,
    limits: ExecLimits = ExecLimits(),
    *,
    text_decoding: TextDecoding = "strict",
) -> ExecResult:
    """Run `sql` read-only on `db_path` (connection cached per process)."""
    try:
        conn = cached_connection(db_path, text_decoding)
    except (OSError, sqlite3.Error) as exc:  # e.g. the file vanished or is not a database
        return ExecResult(None, "runtime", f"cannot open {db_path}: {exc}", 0.0)
    return run_query(conn, sql, limits)


def sqlite_prepares(db_path: Path, sql: str, *, text_decoding: TextDecoding = "strict") -> bool:
    """Whether SQLite compiles `sql` as one read statement on this database (syntax and every table, column
    and function name), without running it: what "valid SQL" means in reports.

    >>> import sqlite3, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.sqlite"
    >>> sqlite3.connect(path).executescript("CREATE TABLE t(city TEXT, age INT);")  # doctest: +ELLIPSIS
    <sqlite3.Cursor object at ...>
    >>> [sqlite_prepares(path, q) for q in ("SELECT city FROM t GROUP BY city", "SELECT town FROM t",
    ...  "SELECT city FROM t GROUP BY city HAVING COUNT(*) > 1 WHERE age < 30", "\x01\x02 garbage", "DELETE FROM t")]
    [True, False, False, False, False]
    """
    if not sql.strip() or not is_read_statement(sql):
        return False
    try:
        conn = cached_connection(db_path, text_decoding)
        conn.execute(f"EXPLAIN {sql}").close()  # EXPLAIN compiles and lists the program; the query itself never runs
    except (OSError, sqlite3.Error, sqlite3.Warning, ValueError, OverflowError):
        return False
    return True


def read_schema(db_path: Path) -> dict[str, list[str]]:
    """Column names of every table and view in `db_path` (trusted queries, read-only)."""
    return {table.name: [c.name for c in table.columns] for table in read_sqlite_schema(db_path, views=True)}
