"""Safe execution: read-only, refused writes, real timeouts, row caps, worker kills."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from t2sql_pipeline.core.sql.execution import (
    ExecLimits,
    execute_readonly,
    is_read_statement,
    open_readonly,
    read_schema,
)
from t2sql_pipeline.core.sql.worker_pool import KILLED, WorkerError, WorkerPool

TIMEOUT_S = 1.0


def make_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE singer(singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);"
        "CREATE TABLE concert(concert_id INTEGER PRIMARY KEY, singer_id INTEGER, year INTEGER);"
        "CREATE INDEX concert_year ON concert(year);"
    )
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", [(i, f"s{i}", 20 + i % 50) for i in range(200)])
    conn.executemany("INSERT INTO concert VALUES (?, ?, ?)", [(i, i % 200, 2000 + i % 20) for i in range(300)])
    conn.commit()
    conn.close()
    return path


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def adversarial_queries(folder: Path) -> list[str]:
    """Writes, attaches, pragmas, extension loading, runaway and oversized queries."""
    return [
        "DROP TABLE singer",
        "DELETE FROM singer",
        "UPDATE singer SET age = 0",
        "INSERT INTO singer(name) VALUES ('x')",
        "REPLACE INTO singer(singer_id, name) VALUES (1, 'x')",
        "CREATE TABLE t(x)",
        "CREATE TEMP TABLE t(x)",
        "ALTER TABLE singer ADD COLUMN z",
        "CREATE INDEX i ON singer(age)",
        f"ATTACH DATABASE '{folder / 'evil.sqlite'}' AS evil",
        "PRAGMA journal_mode = WAL",
        "PRAGMA user_version = 7",
        "PRAGMA writable_schema = ON",
        f"VACUUM INTO '{folder / 'copy.sqlite'}'",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "BEGIN; DELETE FROM singer; COMMIT",
        "SELECT load_extension('/tmp/libevil.so')",
        "SELECT 1; DROP TABLE singer; DELETE FROM concert",
        "/* comment */ DELETE FROM singer",
        "WITH x AS (SELECT 1) DELETE FROM singer",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELECT count(*) FROM singer a, singer b, singer c, singer d, singer e",
        "SELECT * FROM singer a, singer b, singer c",
        "SELECT zeroblob(1000000000)",
        "SELECT * FROM pragma_table_info('singer')",
    ]


def test_adversarial_queries_change_nothing_and_return_in_time(tmp_path: Path) -> None:
    db = make_db(tmp_path / "db.sqlite")
    before = snapshot(tmp_path)
    limits = ExecLimits(timeout_s=TIMEOUT_S, max_rows=10_000)
    for sql in adversarial_queries(tmp_path):
        start = time.monotonic()
        result = execute_readonly(db, sql, limits)
        assert time.monotonic() - start < TIMEOUT_S + 1.0, sql
        assert not result.ok, f"{sql!r} should have been refused or stopped"
        assert result.rows is None and result.error
    assert snapshot(tmp_path) == before  # same files, same bytes: nothing written, nothing created


def test_lower_layers_refuse_writes_without_the_statement_gate(tmp_path: Path) -> None:
    # The SELECT-only gate in run_query is one layer; the connection must hold on its own.
    db = make_db(tmp_path / "db.sqlite")
    before = snapshot(tmp_path)
    conn = open_readonly(db)
    for sql in adversarial_queries(tmp_path)[:18]:
        with pytest.raises((sqlite3.Error, sqlite3.Warning)):
            conn.execute(sql)
    conn.close()
    assert snapshot(tmp_path) == before


def test_runaway_query_times_out_and_the_connection_stays_usable(tmp_path: Path) -> None:
    db = make_db(tmp_path / "db.sqlite")
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r"
    result = execute_readonly(db, endless, ExecLimits(timeout_s=0.3))
    assert result.error_kind == "timeout"
    assert 0.3 <= result.seconds < 1.3
    assert execute_readonly(db, "SELECT count(*) FROM singer").rows == ((200,),)


def test_row_cap_and_error_kinds(tmp_path: Path) -> None:
    db = make_db(tmp_path / "db.sqlite")
    capped = execute_readonly(db, "SELECT * FROM singer", ExecLimits(max_rows=150))
    assert capped.error_kind == "runtime" and "150" in str(capped.error)
    assert execute_readonly(db, "SELECT * FROM singer", ExecLimits(max_rows=200)).rows is not None
    assert execute_readonly(db, "SELEC name FROM singer").error_kind == "syntax"
    assert execute_readonly(db, "SELECT nickname FROM singer").error_kind == "runtime"


def test_statement_gate_and_schema_reader(tmp_path: Path) -> None:
    assert is_read_statement("  /* c */ -- x\n (SELECT 1)")
    assert is_read_statement("with x as (select 1) select * from x")
    assert not is_read_statement("-- SELECT\nDELETE FROM t")
    assert read_schema(make_db(tmp_path / "db.sqlite")) == {
        "singer": ["singer_id", "name", "age"],
        "concert": ["concert_id", "singer_id", "year"],
    }


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        open_readonly(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()  # sqlite3.connect would have created it


def _overrun(task: object, reason: str) -> str:
    return f"overrun: {reason}"


def test_pool_kills_an_overrunning_worker_and_keeps_going() -> None:
    with WorkerPool(2, grace_s=0.5) as pool:
        start = time.monotonic()
        results = dict(pool.run(time.sleep, [5.0, 0.0, 0.0], budget_s=lambda t: 0.2, on_overrun=_overrun))
        assert time.monotonic() - start < 0.2 + 0.5 + 1.0
        assert results[0].startswith(f"overrun: {KILLED}")
        assert results[1] is None and results[2] is None
        # the replacement worker serves the next run
        assert dict(pool.run(abs, [-3], budget_s=lambda t: 5.0, on_overrun=_overrun)) == {0: 3}


def test_pool_reports_a_dead_worker_and_raises_task_errors() -> None:
    with WorkerPool(1) as pool:
        died = dict(pool.run(os._exit, [3], budget_s=lambda t: 5.0, on_overrun=_overrun))
        assert died[0] == "overrun: the worker process died"
        with pytest.raises(WorkerError, match="ValueError"):
            list(pool.run(int, ["not a number"], budget_s=lambda t: 5.0, on_overrun=_overrun))


def test_pool_abandoned_mid_run_never_leaks_a_late_reply_into_the_next_run() -> None:
    with WorkerPool(2) as pool:
        slow, failing = "__import__('time').sleep(0.5) or 'late reply'", "1 / 0"
        with pytest.raises(WorkerError, match="ZeroDivisionError"):
            list(pool.run(eval, [slow, failing], budget_s=lambda t: 5.0, on_overrun=_overrun))
        assert dict(pool.run(eval, ["2 + 2"], budget_s=lambda t: 5.0, on_overrun=_overrun)) == {0: 4}
        time.sleep(0.6)  # even after the slow task would have finished
        assert sorted(dict(pool.run(eval, ["1", "2"], budget_s=lambda t: 5.0, on_overrun=_overrun)).values()) == [1, 2]
