"""`t2sql evaluate`: execution accuracy of predicted SQL, Spider or BIRD semantics."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DESCRIPTION = """\
Execute every predicted query and its gold query on the question's database
(DB_DIR/<db_id>/<db_id>.sqlite, opened read-only) and compare the results.

  --semantics spider  the official test-suite-sql-eval execution match with its
                      default flags and quirks (see --strict)
  --semantics bird    BIRD's EX: equal sets of rows, column order significant,
                      gold and prediction under one time limit

Spider semantics also give the official Spider exact-set match (EM, the
test-suite-sql-eval `evaluation.py` etype "match" rules, its parser's refusals
included) per question, per hardness level and overall, with the official
partial scores (--partial prints them as the official script does). Its
foreign keys come from --tables; without it, from each database file.

A question whose database is missing is reported with exec_match and
exact_match null (error kind missing_db) and left out of EX and EM; so is a
gold query that fails (gold_error) for EX. Prints a summary table; --out
writes the full JSON report.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `evaluate` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="execution-evaluate predicted SQL against gold SQL",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gold", type=Path, required=True, metavar="G", help="gold file, one 'SQL<TAB>db_id' per line (Spider dev_gold.sql, BIRD dev.sql)")
    parser.add_argument("--pred", type=Path, required=True, metavar="P", help="predictions, one SQL per line aligned with G; text after a TAB is ignored")
    parser.add_argument("--db-dir", type=Path, required=True, metavar="D", help="folder holding <db_id>/<db_id>.sqlite for every database")
    parser.add_argument(
        "--tables",
        type=Path,
        metavar="T",
        help="Spider-format tables.json: schemas for the hallucination rate and foreign keys for exact match, as officially (default: read from each database)",
    )
    parser.add_argument("--semantics", choices=("spider", "bird"), default="spider", help="result comparison rules (default: spider)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="spider only: turn the official quirks off (no ' value ' -> ' 1 ', no '> =' repair, "
        "DISTINCT kept, all statements kept, row order from the gold's top-level ORDER BY)",
    )
    parser.add_argument(
        "--difficulty-from", type=Path, metavar="DEV_JSON", help="bird only: BIRD dev.json whose per-question 'difficulty' gives EX per difficulty"
    )
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds per query (bird: gold and prediction together); default 30")
    parser.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: one per CPU; 0 runs in this process)")
    parser.add_argument(
        "--max-rows", type=int, default=100_000, metavar="N", help="row cap per query result; a larger result is a runtime error (default 100000)"
    )
    parser.add_argument(
        "--ves-iterations",
        type=int,
        default=0,
        metavar="N",
        help="bird only: time each correct prediction N times against its gold for VES and R-VES (the official scripts use 100); default 0, VES off",
    )
    parser.add_argument(
        "--no-text-metrics", action="store_true", help="skip ROUGE-L and the schema hallucination rate (sqlglot); exact match and valid SQL are still given"
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not read or write the gold cache (<state folder>/cache/gold: gold preparation and results kept between calls, keyed by database file and SQL)",
    )
    parser.add_argument("--partial", action="store_true", help="spider only: also print the official exact and partial matching tables per hardness")
    parser.add_argument("--out", type=Path, metavar="R.json", help="write the JSON report here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the summary table, write the report; 2 on bad input."""
    from t2sql_pipeline.core.scoring.file_evaluator import evaluate_predictions
    from t2sql_pipeline.core.scoring.gold_cache import GoldCache, default_cache_dir
    from t2sql_pipeline.core.scoring.input_files import (
        EvaluationInputError,
        read_bird_difficulties,
        read_gold_file,
        read_prediction_file,
        read_tables_json,
    )
    from t2sql_pipeline.core.sql.exact_match import foreign_key_maps

    try:
        _check_options(args)
        difficulties = read_bird_difficulties(args.difficulty_from) if args.difficulty_from else None
        gold = read_gold_file(args.gold, difficulties=difficulties)
        predictions = read_prediction_file(args.pred, expected=len(gold))
        schemas = read_tables_json(args.tables) if args.tables else None
        foreign_keys = foreign_key_maps(args.tables) if args.tables else None
    except (EvaluationInputError, OSError, ValueError) as exc:
        print(f"t2sql evaluate: error: {exc}", file=sys.stderr)
        return 2
    result = evaluate_predictions(
        gold,
        predictions,
        args.db_dir,
        semantics=args.semantics,
        timeout_s=args.timeout,
        workers=args.workers,
        strict=args.strict,
        schemas=schemas,
        ves_iterations=args.ves_iterations,
        text_metrics=not args.no_text_metrics,
        max_rows=args.max_rows,
        foreign_keys=foreign_keys,
        cache=None if args.no_cache else GoldCache(default_cache_dir()),
    )
    print(result.summary_table())
    if args.partial:
        from t2sql_pipeline.core.sql.exact_scores import official_table

        print(official_table(result.summary.exact_levels))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"report written to {args.out}")
    return 0


def _check_options(args: argparse.Namespace) -> None:
    problems = []
    if not args.db_dir.is_dir():
        problems.append(f"--db-dir {args.db_dir} is not a directory")
    if args.timeout <= 0:
        problems.append("--timeout must be positive")
    if args.workers is not None and args.workers < 0:
        problems.append("--workers must be 0 or more")
    if args.max_rows < 1:
        problems.append("--max-rows must be at least 1")
    if args.semantics != "bird" and (args.difficulty_from or args.ves_iterations):
        problems.append("--difficulty-from and --ves-iterations need --semantics bird")
    if args.semantics != "spider" and (args.strict or args.partial):
        problems.append("--strict and --partial apply to --semantics spider only")
    if args.ves_iterations < 0:
        problems.append("--ves-iterations must be 0 or more")
    if problems:
        raise ValueError("; ".join(problems))
