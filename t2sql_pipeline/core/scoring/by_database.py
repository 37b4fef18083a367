"""Score generated SQL for tokenized-split rows by executing it, each source with its own official semantics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.scoring.file_evaluator import evaluate_predictions
from t2sql_pipeline.core.scoring.file_results import QuestionResult
from t2sql_pipeline.core.scoring.input_files import GoldQuery


def score_by_database(
    rows: Sequence[dict[str, Any]], predicted: Sequence[str], *, timeout_s: float, workers: int, text_metrics: bool = True
) -> list[QuestionResult]:
    """One result per row, in row order: rows are grouped by source and database folder (Spider/BIRD layout
    `<dir>/<db_id>/<db_id>.sqlite`) and each group goes through the file evaluator once."""
    groups: dict[tuple[str, Path], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[(row["source"], Path(row["db_path"]).parent.parent)].append(index)
    results: dict[int, QuestionResult] = {}
    for (source, db_dir), indices in groups.items():
        result = evaluate_predictions(
            [GoldQuery(rows[i]["gold_sql"], rows[i]["db_id"]) for i in indices],
            [predicted[i] for i in indices],
            db_dir,
            semantics="bird" if source == "bird" else "spider",
            timeout_s=timeout_s,
            workers=workers,
            text_metrics=text_metrics,
        )
        results.update(zip(indices, result.questions, strict=True))
    return [results[i] for i in range(len(rows))]
