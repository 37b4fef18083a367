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

import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

T = TypeVar("T")
R = TypeVar("R")
ErrorKind = Literal["syntax", "runtime", "timeout"]
TextDecoding = Literal["strict", "ignore"]

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_DENIED_FUNCTIONS = frozenset({"load_extension"})
# A read starts with one of these once comments, whitespace and "(" are skipped.
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$)|\()*", re.DOTALL)
_READ_KEYWORDS = ("select", "with", "values")
_OTHER_STATEMENTS = frozenset(
    "alter analyze attach begin commit create delete detach drop end explain insert pragma reindex release "
    "replace rollback savepoint update upsert vacuum".split()
)
_SYNTAX_MARKERS = ("syntax error", "incomplete input", "unrecognized token", "one statement at a time")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # so workers import this same code
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
    uri = f"file:{quote(str(db_path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
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
    rest = sql[_LEADING_NOISE.match(sql).end():].lower()  # type: ignore[union-attr]
    return rest.startswith(_READ_KEYWORDS) or rest == ""


def classify_error(exc: Exception) -> ErrorKind:
    """Map an execution exception to an error kind ("timeout" is decided by the caller)."""
    message = str(exc).lower()
    return "syntax" if any(marker in message for marker in _SYNTAX_MARKERS) else "runtime"


def run_query(conn: sqlite3.Connection, sql: str, limits: ExecLimits) -> ExecResult:
    """Run one statement on an `open_readonly` connection within `limits`."""
    start = time.monotonic()
    if not is_read_statement(sql):
        first = sql[_LEADING_NOISE.match(sql).end():].split(None, 1)[0].lower()  # type: ignore[union-attr]
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


KILLED = "worker killed"  # prefix of the reason `on_overrun` gets for an overrun (vs a crash)


class WorkerError(RuntimeError):
    """A task raised inside a worker process; carries the worker's traceback."""


def worker_main(fd: int) -> None:
    """Worker process loop on socket `fd`: run (fn, task) messages until told to stop."""
    logging.disable(logging.WARNING)  # e.g. sqlglot's per-query parse warnings: noise on the user's terminal
    conn = Connection(fd)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            # Told to stop: leave without the interpreter's clean-up (seconds on a busy machine);
            # there is nothing to flush, every connection is read-only.
            os._exit(0)
        fn, task = message
        try:
            reply: tuple[str, Any] = ("ok", fn(task))
        except Exception:  # noqa: BLE001 - re-raised in the parent as WorkerError
            reply = ("error", traceback.format_exc())
        conn.send(reply)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection


class WorkerPool:
    """Processes that run `fn(task)`; a task overrunning its budget gets its worker killed.

    The kill is the last line of defence behind SQLite's progress handler: a
    query stuck somewhere the handler is not called still cannot outlive its
    budget by more than `grace_s`. Connections stay open in each worker
    (`cached_connection`) for the life of the pool.
    """

    def __init__(self, workers: int, *, grace_s: float = 1.0) -> None:
        if workers < 1:
            raise ValueError(f"a WorkerPool needs at least one worker, got {workers}")
        self._grace_s = grace_s
        self._workers = [self._start() for _ in range(workers)]

    @staticmethod
    def _start() -> _Worker:
        # A fresh interpreter, not multiprocessing's spawn/fork: no fork of a threaded
        # (Dagster, MLflow) parent, and no re-import of the caller's __main__, so a
        # script without an `if __name__ == "__main__"` guard works too.
        parent_end, child_end = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))}
        code = f"from {__name__} import worker_main; worker_main({child_end.fileno()})"
        process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(child_end.fileno(),), env=env)
        child_end.close()
        return _Worker(process, Connection(parent_end.detach()))

    def _replace(self, worker: _Worker) -> _Worker:
        worker.process.kill()
        worker.process.wait()
        worker.conn.close()
        return self._start()

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        *,
        budget_s: Callable[[T], float],
        on_overrun: Callable[[T, str], R],
    ) -> Iterator[tuple[int, R]]:
        """Yield (position in `tasks`, result) as tasks finish, in any order.

        A task whose worker passes `budget_s(task) + grace_s` or dies yields
        `on_overrun(task, reason)`; an exception inside `fn` raises WorkerError.
        """
        queue = enumerate(tasks)
        idle = list(self._workers)
        busy: dict[Connection, tuple[_Worker, int, T, float]] = {}
        try:
            yield from self._serve(fn, queue, idle, busy, budget_s, on_overrun)
        finally:
            # Abandoned mid-run (an error, or the caller stopped): a busy worker's late
            # reply must never reach the next run, so replace every busy worker.
            for worker, *_ in busy.values():
                self._swap(worker, self._replace(worker))

    def _serve(
        self,
        fn: Callable[[T], R],
        queue: Iterator[tuple[int, T]],
        idle: list[_Worker],
        busy: dict[Connection, tuple[_Worker, int, T, float]],
        budget_s: Callable[[T], float],
        on_overrun: Callable[[T, str], R],
    ) -> Iterator[tuple[int, R]]:
        exhausted = False
        while True:
            while idle and not exhausted:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                worker = idle.pop()
                try:
                    worker.conn.send((fn, item[1]))
                except OSError:  # died while idle: start another and retry once
                    worker = self._swap(worker, self._replace(worker))
                    worker.conn.send((fn, item[1]))
                deadline = time.monotonic() + budget_s(item[1]) + self._grace_s
                busy[worker.conn] = (worker, item[0], item[1], deadline)
            if not busy:
                return
            next_deadline = min(entry[3] for entry in busy.values())
            ready = wait(list(busy), timeout=max(0.0, next_deadline - time.monotonic()))
            for conn in ready:
                worker, position, task, _ = busy.pop(conn)  # type: ignore[call-overload]
                try:
                    status, value = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    idle.append(self._swap(worker, self._replace(worker)))
                    yield position, on_overrun(task, "the worker process died")
                    continue
                idle.append(worker)
                if status == "error":
                    raise WorkerError(f"task {position} failed in a worker:\n{value}")
                yield position, value
            now = time.monotonic()
            for conn, (worker, position, task, deadline) in list(busy.items()):
                if now >= deadline:
                    del busy[conn]
                    idle.append(self._swap(worker, self._replace(worker)))
                    yield position, on_overrun(task, f"{KILLED} after {budget_s(task):g} s + {self._grace_s:g} s grace")

    def _swap(self, old: _Worker, new: _Worker) -> _Worker:
        self._workers[self._workers.index(old)] = new
        return new

    def close(self) -> None:
        """Stop every worker (killing any still busy)."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            try:
                worker.process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
        self._workers = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_schema(db_path: Path) -> dict[str, list[str]]:
    """Column names of every table and view in `db_path` (trusted queries, read-only)."""
    conn = sqlite3.connect(f"file:{quote(str(db_path.resolve()))}?mode=ro", uri=True)
    try:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
        return {name: [row[1] for row in conn.execute(f"PRAGMA table_info({quoted[name]})")] for name in names}
    finally:
        conn.close()
