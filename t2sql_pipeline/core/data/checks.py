"""Checks on the tokenized splits as saved on disk: what the data asset checks assert.

They re-derive every figure from the saved dataset rather than trusting the
manifest, so a bug upstream (in splitting, leak detection or loading) shows up here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.data.splits import SplitLeak, question_pair_key
from t2sql_pipeline.core.sql.execution import ExecLimits, execute_readonly

CHECK_COLUMNS = ("example_id", "source", "db_id", "question", "db_path", "gold_sql")
GOLD_LIMITS = ExecLimits(timeout_s=30.0, max_rows=1_000_000)


@dataclass(frozen=True)
class GoldFailure:
    split: str
    example_id: str
    db_id: str
    error: str


def read_split_rows(path: str) -> dict[str, list[dict[str, Any]]]:
    """The identifying columns of every row of a saved DatasetDict, per split (tokens left out)."""
    from datasets import load_from_disk

    data = load_from_disk(path)
    return {name: split.select_columns(list(CHECK_COLUMNS)).to_list() for name, split in data.items()}


def shared_across_splits(rows_by_split: dict[str, list[dict[str, Any]]], kind: str) -> list[SplitLeak]:
    """Databases (`kind="database"`) or question+database pairs (`"question"`) found in more than one split."""
    seen: dict[str, set[str]] = defaultdict(set)
    for name, rows in rows_by_split.items():
        for row in rows:
            key = f"{row['source']}:{row['db_id']}" if kind == "database" else question_pair_key(row["db_id"], row["question"])
            seen[key].add(name)
    return [SplitLeak(kind, key, tuple(sorted(names))) for key, names in sorted(seen.items()) if len(names) > 1]  # type: ignore[arg-type]


def gold_failures(rows_by_split: dict[str, list[dict[str, Any]]]) -> list[GoldFailure]:
    """Rows whose gold SQL does not execute (read-only) on their database."""
    failures: list[GoldFailure] = []
    for name, rows in rows_by_split.items():
        for row in rows:
            result = execute_readonly(Path(row["db_path"]), row["gold_sql"], GOLD_LIMITS)
            if not result.ok:
                failures.append(GoldFailure(name, row["example_id"], row["db_id"], f"{result.error_kind}: {result.error}"))
    return failures
