"""Evaluate a model (base, or base + adapter) on the evaluated split (`evaluation.split`) by executing its SQL.

Each source is scored with its own official semantics (Spider's or BIRD's
execution match), through the same evaluator as `t2sql evaluate`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.inference.constrained_decoding import schema_grammars
from t2sql_pipeline.core.inference.generation import generate_answers
from t2sql_pipeline.core.inference.voting import VotedAnswer, VoteOutcome, vote_answers
from t2sql_pipeline.core.records import ModelScore
from t2sql_pipeline.core.scoring.by_database import score_by_database
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.sql.extraction import extract_sql


@dataclass(frozen=True)
class PredictionRecord:
    example_id: str
    source: str
    db_id: str
    difficulty: str
    gold_sql: str
    raw_output: str
    predicted_sql: str
    exec_match: bool | None
    error_kind: str | None
    valid_sql: bool | None
    stopped: bool  # the answer ended with the end-of-turn token, not at generation.max_new_tokens
    new_tokens: int
    vote_candidates: int | None = None  # execution_vote: candidates voted, i.e. sampled and not cut (None: greedy decoding)
    vote_executed: int | None = None  # ... that ran without error
    vote_agreeing: int | None = None  # ... in the winning group (0: none ran, the greedy answer stands)
    exact_match: bool | None = None  # official Spider exact-set match (None: BIRD, or no database)


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's score (the record the report carries) and its per-question records."""

    label: str  # "base" or "adapter"
    score: ModelScore
    records: list[PredictionRecord]


PROGRESS_INTERVAL_S = 30.0  # at most one "questions done" line per interval


def evaluate_model(
    label: str, model: Any, tokenizer: Any, rows: list[dict[str, Any]], settings: PipelineSettings, log: Callable[[str], None] | None = None
) -> ModelEvaluation:
    started = time.perf_counter()
    last_line = [started]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if log is not None and (now - last_line[0] >= PROGRESS_INTERVAL_S or done == total):
            last_line[0] = now
            log(f"{label}: generated SQL for {done}/{total} questions ({now - started:.0f} s)")

    prompts = [row["prompt_ids"] for row in rows]
    votes: list[VoteOutcome | None] = [None] * len(rows)
    if settings.generation.strategy == "execution_vote":
        answers, voted = vote_answers(model, tokenizer, prompts, [Path(row["db_path"]) for row in rows], settings, progress)
        votes = list(voted)
    else:
        g = settings.generation
        grammars = schema_grammars(model, tokenizer, [Path(row["db_path"]) for row in rows], settings)
        greedy = generate_answers(model, tokenizer, prompts, max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, on_batch=progress, grammars=grammars)
        answers = [VotedAnswer(a.text, extract_sql(a.text), a.stopped, a.new_tokens) for a in greedy]
    seconds = time.perf_counter() - started
    predicted = [answer.sql for answer in answers]
    e = settings.evaluation
    results = score_by_database(rows, predicted, timeout_s=e.timeout_s, workers=e.workers)
    records = [
        PredictionRecord(
            example_id=row["example_id"],
            source=row["source"],
            db_id=row["db_id"],
            difficulty=row["difficulty"],
            gold_sql=row["gold_sql"],
            raw_output=answers[i].text,
            predicted_sql=predicted[i],
            exec_match=results[i].exec_match,
            error_kind=results[i].error_kind,
            valid_sql=results[i].valid_sql,
            stopped=answers[i].stopped,
            new_tokens=answers[i].new_tokens,
            vote_candidates=votes[i].candidates if votes[i] else None,
            vote_executed=votes[i].executed if votes[i] else None,
            vote_agreeing=votes[i].agreeing if votes[i] else None,
            exact_match=results[i].exact_match,
        )
        for i, row in enumerate(rows)
    ]
    return summarize(label, records, seconds)


def summarize(label: str, records: list[PredictionRecord], generation_seconds: float = 0.0) -> ModelEvaluation:
    scored = [r for r in records if r.exec_match is not None]
    levels: dict[str, list[bool]] = defaultdict(list)
    for record in scored:
        levels[f"{record.source}/{record.difficulty}"].append(bool(record.exec_match))
    score = ModelScore(
        execution_accuracy=_rate([bool(r.exec_match) for r in scored]),
        valid_sql_rate=_rate([bool(r.valid_sql) for r in records if r.valid_sql is not None]),  # of those with a database
        end_of_turn_rate=_rate([r.stopped for r in records]),
        seconds_per_question=generation_seconds / len(records) if records else 0.0,
        n_questions=len(records),
        n_scored=len(scored),
        per_level={level: _rate(matches) for level, matches in sorted(levels.items())},
    )
    return ModelEvaluation(label, score, records)


def _rate(values: list[bool]) -> float:
    return sum(values) / len(values) if values else 0.0
