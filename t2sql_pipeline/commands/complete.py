"""`t2sql complete`: a registered model finishes a query you have started; the output starts with your text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from t2sql_pipeline.commands import add_constrained_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("complete", help="complete the start of a SQL query with a registered model (NAME@alias)")
    parser.add_argument("prefix", help='the start of the query, in quotes, e.g. "SELECT count(*) FROM"')
    parser.add_argument("--model", required=True, metavar="NAME[@alias|/version]", help="e.g. t2sql-demo@champion")
    parser.add_argument("--db", required=True, type=Path, metavar="FILE.sqlite", help="the database the query is about (its schema goes in the prompt)")
    parser.add_argument("--question", default=None, help="what the query should answer (optional; it guides the completion)")
    parser.add_argument("--evidence", default=None, help="BIRD-style hint (used when the model was trained with evidence)")
    parser.add_argument("--execute", action="store_true", help="also run the completed SQL read-only and print the rows")
    parser.add_argument("--max-rows", type=int, default=20, metavar="N", help="rows printed with --execute (default 20)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="query time limit with --execute (default 30 s)")
    add_constrained_argument(parser)
    parser.set_defaults(func=run)


def fail(message: str) -> int:
    print(f"t2sql complete: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from t2sql_pipeline.commands import CommandError, load_registered_generator, quiet_library_output, strategy_params
    from t2sql_pipeline.commands.generate import execute_and_print

    if not args.prefix.strip():
        return fail('the prefix is blank: give the start of a query, e.g. "SELECT count(*) FROM"')
    if args.max_rows < 1:
        return fail("--max-rows must be at least 1")
    quiet_library_output()
    try:
        generator = load_registered_generator(args.model, args.db, strategy_params(args))
    except CommandError as error:
        return fail(str(error))
    question = args.question if args.question and args.question.strip() else None
    try:
        sql = generator.complete(args.prefix, question=question, schema=None, db_path=args.db.resolve(), evidence=args.evidence)
    except ValueError as error:
        return fail(str(error))
    print(sql)
    if not args.execute:
        return 0
    return execute_and_print(args.db, sql, args.max_rows, args.timeout, command="complete")
