"""Completion measured on an evaluation split: given the first half of each gold query, how well a model finishes it.

Each question's prompt is its training prompt with `evaluation_prefix(gold_sql)` pre-filled in
the assistant turn. Scores: execution accuracy of the completed query (each source with its own
official semantics, as for generation) and ROUGE-L F1 over SQL tokens of the part the model
wrote against the rest of the gold query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.inference.completion import answer_lead, complete_sql, evaluation_prefix
from t2sql_pipeline.core.settings import PipelineSettings


@dataclass(frozen=True)
class CompletionRecord:
    example_id: str
    prefix: str
    gold_sql: str
    completed_sql: str
    exec_match: bool | None  # None: not scored (no database)
    rouge_l_sql: float  # of the written rest against the gold rest


@dataclass(frozen=True)
class CompletionScore:
    label: str
    execution_accuracy: float  # of the scored questions
    rouge_l_sql: float  # mean over all questions
    n_questions: int
    n_scored: int
    seconds_per_question: float


def _rest(sql: str, prefix: str) -> str:
    return sql[len(prefix) :].strip().rstrip(";").strip()


def _complete(model: Any, tokenizer: Any, prompts: list[Any], prefixes: list[str], db_paths: list[Path], settings: PipelineSettings) -> list[str]:
    """Completions, constrained to each database's grammar with `generation.constrained: schema`; the few gold
    prefixes a grammar rejects (names it cannot express, e.g. a CTE's columns) are completed freely."""
    from t2sql_pipeline.core.inference.constrained_decoding import PrefixRejectedError, check_prefix, schema_grammars

    g = settings.generation
    grammars = schema_grammars(model, tokenizer, db_paths, settings)
    accepted = list(range(len(prompts)))
    if grammars is not None:
        accepted = []
        for index, (grammar, prefix) in enumerate(zip(grammars, prefixes, strict=True)):
            try:
                check_prefix(grammar, prefix.rstrip())
                accepted.append(index)
            except PrefixRejectedError:
                continue
    completed = [""] * len(prompts)
    free = [i for i in range(len(prompts)) if i not in set(accepted)] if grammars is not None else []
    for indices, chosen in ((accepted, [grammars[i] for i in accepted] if grammars is not None else None), (free, None)):
        if indices:
            texts = complete_sql(
                model, tokenizer, [prompts[i] for i in indices], [prefixes[i] for i in indices],
                max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, grammars=chosen,
            )  # fmt: skip
            for i, text in zip(indices, texts, strict=True):
                completed[i] = text
    return completed


def evaluate_completion(
    label: str, model: Any, tokenizer: Any, rows: list[dict[str, Any]], settings: PipelineSettings, prompt_format: str
) -> tuple[CompletionScore, list[CompletionRecord]]:
    """Complete each row's gold prefix with `model`; score by execution and by ROUGE-L-SQL of the rest."""
    from t2sql_pipeline.core.scoring.by_database import score_by_database
    from t2sql_pipeline.core.sql.text_metrics import rouge_l_f1

    fmt = "inst" if prompt_format == "inst" else "chat_template"
    lead = answer_lead(tokenizer, "question", fmt)  # the same for every message
    prefixes = [evaluation_prefix(row["gold_sql"]) for row in rows]
    prompts = []
    for row, prefix in zip(rows, prefixes, strict=True):
        filled = list(tokenizer(lead + prefix.rstrip(), add_special_tokens=False)["input_ids"])
        prompts.append((list(row["prompt_ids"]) + filled, filled))
    started = time.perf_counter()
    completed = _complete(model, tokenizer, prompts, prefixes, [Path(row["db_path"]) for row in rows], settings)
    seconds = time.perf_counter() - started
    scored = score_by_database(rows, completed, timeout_s=settings.evaluation.timeout_s, workers=settings.evaluation.workers, text_metrics=False)
    matches = {i: question.exec_match for i, question in enumerate(scored)}
    records = [
        CompletionRecord(row["example_id"], prefix, row["gold_sql"], sql, matches[i], rouge_l_f1(_rest(row["gold_sql"], prefix), _rest(sql, prefix)))
        for i, (row, prefix, sql) in enumerate(zip(rows, prefixes, completed, strict=True))
    ]
    scored = [bool(r.exec_match) for r in records if r.exec_match is not None]
    score = CompletionScore(
        label=label,
        execution_accuracy=sum(scored) / len(scored) if scored else 0.0,
        rouge_l_sql=sum(r.rouge_l_sql for r in records) / len(records) if records else 0.0,
        n_questions=len(records),
        n_scored=len(scored),
        seconds_per_question=seconds / len(records) if records else 0.0,
    )
    return score, records
