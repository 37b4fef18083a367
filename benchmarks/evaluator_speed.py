"""Speed of `t2sql evaluate` against a plain sequential reference, side by side.

Scores every published prediction file in <shared data>/spider-dev/predictions
twice in one run: with our `Evaluator` (worker processes, gold prepared and
executed once for all files, connections kept open) and with the simple
reference below (one process; every query rewritten with sqlparse, executed on
a fresh read-only connection, gold re-executed for every file). Both use the
official Spider semantics; the script fails unless every per-question result
is identical, then prints both times and the ratio.

    python benchmarks/evaluator_speed.py [--workers 2] [--files 18] [--data DIR]

Shared data: --data, else $T2SQL_SHARED_DATA, else ../shared/data beside the checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import sys
import time
from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from t2sql_pipeline.core.scoring.file_evaluator import Evaluator  # noqa: E402
from t2sql_pipeline.core.scoring.input_files import GoldQuery, read_gold_file, read_prediction_file  # noqa: E402

Row = tuple[Any, ...]


# ----------------------------------------------------------------------------- the reference


def reference_prepare(sql: str, *, is_gold: bool) -> tuple[str, bool]:
    """The official text rewrites, written out plainly: sqlparse on every query."""
    import sqlparse

    if not is_gold:
        sql = sql.replace(" value ", " 1 ")
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = "".join(t.value for t in sqlparse.parse(sql)[0].flatten() if t.value.lower() != "distinct")
    order_matters = "order by" in sql.lower()
    return re.sub(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", "2020", sql, flags=re.IGNORECASE), order_matters


def reference_execute(db_path: Path, sql: str, timeout_s: float) -> list[Row] | None:
    """Fresh read-only connection per query; None on any error or timeout."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.text_factory = lambda raw: raw.decode(errors="ignore")
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        return conn.execute(sql).fetchall()
    except (sqlite3.Error, sqlite3.Warning, ValueError):
        return None
    finally:
        conn.close()


def reference_rows_match(gold: list[Row], pred: list[Row], order_matters: bool) -> bool:
    """Bag (or list) equality up to a column permutation, with the official quick reject."""
    if not gold and not pred:
        return True
    if len(gold) != len(pred) or len(gold[0]) != len(pred[0]):
        return False

    def canon(rows: list[Row]) -> list[Row]:
        return [tuple(sorted(row, key=lambda v: str(v) + str(type(v)))) for row in rows]

    if (canon(gold) != canon(pred)) if order_matters else (set(canon(gold)) != set(canon(pred))):
        return False
    n = len(gold[0])
    gold_sets = [{row[i] for row in gold} for i in range(n)]
    options = [[j for j in range(n) if all(row[j] in gold_sets[i] for row in pred)] for i in range(n)]
    for perm in product(*options):
        if len(set(perm)) < n:
            continue
        permuted = [tuple(row[j] for j in perm) for row in pred]
        if (permuted == gold) if order_matters else (Counter(permuted) == Counter(gold)):
            return True
    return False


def reference_evaluate(gold: list[GoldQuery], preds: list[str], db_dir: Path, timeout_s: float) -> list[bool | None]:
    results: list[bool | None] = []
    for g, p in zip(gold, preds, strict=True):
        db_path = db_dir / g.db_id / f"{g.db_id}.sqlite"
        if not db_path.is_file():
            results.append(None)
            continue
        if not p.strip():
            results.append(False)
            continue
        gold_sql, order_matters = reference_prepare(g.sql, is_gold=True)
        pred_sql, _ = reference_prepare(p, is_gold=False)
        gold_rows = reference_execute(db_path, gold_sql, timeout_s)
        pred_rows = reference_execute(db_path, pred_sql, timeout_s)
        if gold_rows is None:
            raise RuntimeError(f"gold query failed on {db_path}: {g.sql}")
        results.append(pred_rows is not None and reference_rows_match(gold_rows, pred_rows, order_matters))
    return results


# ----------------------------------------------------------------------------- the run


def shared_data(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    if "T2SQL_SHARED_DATA" in os.environ:
        return Path(os.environ["T2SQL_SHARED_DATA"])
    return REPO_ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (holds spider-dev/)")
    parser.add_argument("--workers", type=int, default=2, help="our evaluator's worker processes (default 2)")
    parser.add_argument("--files", type=int, default=None, help="only the first N prediction files")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    spider = shared_data(args.data) / "spider-dev"
    if not (spider / "dev_gold.sql").is_file():
        print(f"no Spider dev data under {spider}; nothing to measure", file=sys.stderr)
        return 2
    gold = read_gold_file(spider / "dev_gold.sql")
    files = sorted((spider / "predictions").glob("*.sql"))[: args.files]
    predictions = {f.stem: read_prediction_file(f, expected=len(gold)) for f in files}
    db_dir = spider / "database"

    start = time.perf_counter()
    ours: dict[str, list[bool | None]] = {}
    with Evaluator(db_dir, workers=args.workers, timeout_s=args.timeout, text_metrics=False) as evaluator:
        for name, preds in predictions.items():
            ours[name] = [q.exec_match for q in evaluator.evaluate(gold, preds).questions]
    ours_s = time.perf_counter() - start

    start = time.perf_counter()
    reference = {name: reference_evaluate(gold, preds, db_dir, args.timeout) for name, preds in predictions.items()}
    reference_s = time.perf_counter() - start

    mismatches = 0
    print(f"{'prediction file':<42}{'EX ours':>9}{'EX ref':>9}{'differ':>8}")
    for name in predictions:
        differ = sum(a != b for a, b in zip(ours[name], reference[name], strict=True))
        mismatches += differ
        print(f"{name:<42}{_ex(ours[name]):>9}{_ex(reference[name]):>9}{differ:>8}")
    n_questions = len(gold) * len(predictions)
    print(f"\n{len(predictions)} files x {len(gold)} questions = {n_questions} predictions")
    print(f"ours ({args.workers} workers, one Evaluator): {ours_s:7.1f} s")
    print(f"sequential reference:            {reference_s:7.1f} s")
    print(f"speed-up: {reference_s / ours_s:.2f}x on {os.cpu_count()} CPUs")
    if mismatches:
        print(f"FAIL: {mismatches} per-question results differ", file=sys.stderr)
        return 1
    print("per-question results identical")
    return 0


def _ex(results: list[bool | None]) -> str:
    scored = [r for r in results if r is not None]
    return f"{100 * sum(scored) / len(scored):.2f}" if scored else "n/a"


if __name__ == "__main__":
    sys.exit(main())
