"""`t2sql generate`: one question to SQL with a registered model, optionally run read-only on the database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from t2sql_pipeline.commands import CommandError, add_strategy_arguments, load_registered_generator, strategy_params


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="write SQL for a question with a registered model (NAME@alias)")
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument("--model", required=True, metavar="NAME[@alias|/version]", help="e.g. t2sql-demo@champion")
    parser.add_argument("--db", required=True, type=Path, metavar="FILE.sqlite", help="the database the question is about (its schema goes in the prompt)")
    parser.add_argument("--evidence", default=None, help="BIRD-style hint (used when the model was trained with evidence)")
    parser.add_argument("--execute", action="store_true", help="also run the SQL read-only and print the rows")
    parser.add_argument("--max-rows", type=int, default=20, metavar="N", help="rows printed with --execute (default 20)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="query time limit with --execute (default 30 s)")
    add_strategy_arguments(parser)
    parser.set_defaults(func=run)


def fail(message: str) -> int:
    print(f"t2sql generate: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from t2sql_pipeline.commands import quiet_library_output

    if args.max_rows < 1:
        return fail("--max-rows must be at least 1")
    quiet_library_output()
    try:
        generator = load_registered_generator(args.model, args.db, strategy_params(args))
    except CommandError as error:
        return fail(str(error))
    try:
        sql = generator.generate(args.question, schema=None, db_path=args.db.resolve(), evidence=args.evidence)
    except ValueError as error:
        return fail(str(error))
    print(sql)
    if not args.execute:
        return 0
    return execute_and_print(args.db, sql, args.max_rows, args.timeout)


def execute_and_print(db_path: Path, sql: str, max_rows: int, timeout_s: float, command: str = "generate") -> int:
    """Run `sql` read-only within `timeout_s`; print at most `max_rows` rows as an aligned table."""
    from t2sql_pipeline.core.sql.execution import ExecLimits, open_readonly, run_query

    conn = open_readonly(db_path)
    try:
        result = run_query(conn, sql, ExecLimits(timeout_s=timeout_s))
        columns = result_columns(conn, sql) if result.ok else ()
    finally:
        conn.close()
    if not result.ok or result.rows is None:
        print(f"t2sql {command}: the SQL did not run ({result.error_kind}): {result.error}", file=sys.stderr)
        return 1
    print(format_rows(result.rows, max_rows, columns))
    return 0


def result_columns(conn: Any, sql: str) -> tuple[str, ...]:
    """The column names of a read statement that has just run, without running it again (LIMIT 0 stops before
    the first row; SQLite accepts a WITH or VALUES statement as a subquery)."""
    import sqlite3

    try:
        cursor = conn.execute(f"SELECT * FROM ({sql.strip().rstrip(';')}) LIMIT 0")
    except sqlite3.Error:  # e.g. a trailing comment the subquery cannot close over: print the rows without a header
        return ()
    return tuple(str(d[0]) for d in cursor.description or ())


def format_rows(rows: tuple[tuple[Any, ...], ...], max_rows: int, columns: tuple[str, ...] = ()) -> str:
    """Rows as left-aligned columns under their names (when given), then `(N rows)`, with a note when some were left out.

    >>> print(format_rows(((1, "Anna"), (22, None)), 10, ("id", "name")))
    id  name
    --  ----
    1   Anna
    22  NULL
    (2 rows)
    """
    body = [["NULL" if value is None else str(value) for value in row] for row in rows[:max_rows]]
    header = [list(columns), ["-" * len(name) for name in columns]] if columns and (not body or len(columns) == len(body[0])) else []
    shown = header + body
    widths = [max(len(row[i]) for row in shown) for i in range(len(shown[0]))] if shown else []
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in shown]
    more = f", {len(rows) - max_rows} not shown" if len(rows) > max_rows else ""
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{more})")
    return "\n".join(lines)
