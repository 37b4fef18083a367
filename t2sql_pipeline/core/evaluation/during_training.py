"""Execution accuracy and ROUGE-L-SQL while training: a TrainerCallback run at each evaluation step.

At each evaluation the model being trained writes SQL (batched greedy generation, in eval
mode; train mode is restored after) for a fixed subset of the validation split,
`evaluation.during_training_examples` rows spread round-robin over its databases; the SQL is executed read-only against the
validation databases. `eval_ex` and `eval_rouge_l_sql` go to the metrics sink (MLflow, next
to the loss) at that step, and each step's row is kept for the `lora_adapter` materialization.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.settings import PipelineSettings

MetricsSink = Callable[[dict[str, float], int], None]
ROW_COLUMNS = ("prompt_ids", "gold_sql", "db_id", "db_path", "source")


@dataclass(frozen=True)
class StepMetrics:
    """One evaluation step's figures on the fixed validation subset."""

    step: int
    epoch: float | None
    eval_loss: float | None
    eval_token_accuracy: float | None
    eval_ex: float  # share of the subset whose SQL returns the gold rows
    eval_rouge_l_sql: float  # mean ROUGE-L F1 over SQL tokens
    examples: int
    seconds: float  # generation + execution


def score_subset(model: Any, tokenizer: Any, rows: list[dict[str, Any]], settings: PipelineSettings) -> tuple[float, float]:
    """(EX, mean ROUGE-L-SQL F1) of `model` on `rows`; SQL runs in this process (no worker pool per step)."""
    from t2sql_pipeline.core.inference.constrained_decoding import schema_grammars
    from t2sql_pipeline.core.inference.generation import generate_answers
    from t2sql_pipeline.core.scoring.by_database import score_by_database
    from t2sql_pipeline.core.sql.extraction import extract_sql
    from t2sql_pipeline.core.sql.text_metrics import rouge_l_f1

    g = settings.generation
    grammars = schema_grammars(model, tokenizer, [Path(row["db_path"]) for row in rows], settings)  # None unless generation.constrained
    answers = generate_answers(
        model, tokenizer, [row["prompt_ids"] for row in rows], max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, grammars=grammars
    )
    predicted = [extract_sql(answer.text) for answer in answers]
    scored = score_by_database(rows, predicted, timeout_s=settings.evaluation.timeout_s, workers=0, text_metrics=False)
    matches = [bool(q.exec_match) for q in scored]  # a missing database counts as a miss
    # The `;` that extraction appends is no token of the answer's content (gold SQL often lacks it).
    rouge = [rouge_l_f1(row["gold_sql"].strip().rstrip(";"), sql.rstrip(";")) for row, sql in zip(rows, predicted, strict=True)]
    return sum(matches) / len(matches), sum(rouge) / len(rouge)


def build_generation_metrics_callback(rows: list[dict[str, Any]], settings: PipelineSettings, sink: MetricsSink | None) -> Any:
    """The callback; its `history` holds a StepMetrics per evaluation (rank 0 only, this process's steps)."""
    from transformers import TrainerCallback

    class _GenerationMetrics(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[StepMetrics] = []

        def on_evaluate(
            self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None, metrics: dict[str, float] | None = None, **kwargs: Any
        ) -> None:
            if not state.is_world_process_zero or model is None or processing_class is None:
                return  # other ranks wait at their next collective while rank 0 generates
            started = time.perf_counter()
            was_training = model.training
            try:
                ex, rouge = score_subset(model, processing_class, rows, settings)
            finally:
                model.train(was_training)  # generation switched to eval mode (no dropout); training continues as it was
            metrics = metrics or {}
            row = StepMetrics(
                state.global_step,
                state.epoch,
                metrics.get("eval_loss"),
                metrics.get("eval_mean_token_accuracy"),
                ex,
                rouge,
                len(rows),
                time.perf_counter() - started,
            )
            self.history.append(row)
            if sink is not None:
                sink({"eval_ex": ex, "eval_rouge_l_sql": rouge, "eval_generation_seconds": row.seconds}, state.global_step)

    return _GenerationMetrics()


def subset_rows(eval_dataset: Any, examples: int) -> list[dict[str, Any]]:
    """`examples` validation rows, with what scoring needs, taken round-robin across databases in order of first
    appearance (each database's rows in split order): fixed across steps and runs. The split is grouped by
    database, so its first rows would all be one database's, and one hard database reads as 0% at every step."""
    seen: dict[str, int] = {}  # rows seen so far per database; a dict also keeps first-appearance order
    keys = []
    for index, db_id in enumerate(eval_dataset["db_id"]):
        keys.append((seen.setdefault(db_id, 0), list(seen).index(db_id), index))  # (round, database, row)
        seen[db_id] += 1
    chosen = [index for *_, index in sorted(keys)[:examples]]
    return eval_dataset.select(chosen).select_columns(list(ROW_COLUMNS)).to_list() if chosen else []


def metrics_table(history: list[StepMetrics] | list[dict[str, Any]]) -> str:
    """A Markdown table, one row per evaluation step (the materialization's view of the curves).

    >>> print(metrics_table([StepMetrics(100, 1.0, 0.45, 0.874, 0.5625, 0.8012, 16, 2.1)]))
    | step | epoch | eval loss | token accuracy | EX | ROUGE-L-SQL F1 |
    |---:|---:|---:|---:|---:|---:|
    | 100 | 1.00 | 0.4500 | 87.4% | 56.2% | 0.8012 |
    """
    lines = ["| step | epoch | eval loss | token accuracy | EX | ROUGE-L-SQL F1 |", "|---:|---:|---:|---:|---:|---:|"]
    for item in history:
        r = item if isinstance(item, dict) else item.__dict__
        epoch = f"{r['epoch']:.2f}" if r.get("epoch") is not None else ""
        loss = f"{r['eval_loss']:.4f}" if r.get("eval_loss") is not None else ""
        accuracy = f"{r['eval_token_accuracy']:.1%}" if r.get("eval_token_accuracy") is not None else ""
        lines.append(f"| {r['step']} | {epoch} | {loss} | {accuracy} | {r['eval_ex']:.1%} | {r['eval_rouge_l_sql']:.4f} |")
    return "\n".join(lines)
