"""Execution evaluation of predicted SQL against gold SQL, Spider or BIRD style.

The pipeline, read top to bottom in `Evaluator.evaluate`: each gold query is
prepared (and later executed) once for the evaluator's life; one execution
task and one text-metrics task per question run in worker processes; frozen
per-question records and a summary come back as an `EvaluationResult` with
`.to_dict()` (the R.json of `t2sql evaluate`) and `.summary_table()`.
`evaluate_predictions` is the one-call API; keep an `Evaluator` open to score
several prediction files against the same gold (gold results are reused).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from t2sql_pipeline.core.evaluation.file_results import (
    EvaluationResult,
    EvaluationSummary,
    QuestionResult,
    Semantics,
    summarize,
)
from t2sql_pipeline.core.evaluation.input_files import EvaluationInputError, GoldQuery
from t2sql_pipeline.core.sql import execution as sql_exec
from t2sql_pipeline.core.sql.result_match import PreparedQuery, bird_rows_match, spider_prepare, spider_rows_match
from t2sql_pipeline.core.sql.text_metrics import DbSchema, TextMetrics, text_metrics
from t2sql_pipeline.core.sql.ves import mean_without_outliers
from t2sql_pipeline.core.sql.execution import ExecLimits, ExecResult, TextDecoding, read_schema
from t2sql_pipeline.core.sql.worker_pool import KILLED, WorkerPool

_PYTHON_TASK_BUDGET_S = 60.0  # sqlglot/sqlparse on one line of text; generous, never expected


# ----------------------------------------------------------------------------- worker tasks
# Module-level functions and frozen dataclasses: they travel to worker processes by pickle.


@dataclass(frozen=True)
class _GoldInfoTask:
    sql: str
    semantics: Semantics
    strict: bool


@dataclass(frozen=True)
class _GoldTask:
    db_path: Path
    sql: str
    decoding: TextDecoding
    limits: ExecLimits


@dataclass(frozen=True)
class _PredTask:
    index: int
    db_paths: tuple[Path, ...]
    gold: PreparedQuery
    gold_results: tuple[ExecResult, ...]  # aligned with db_paths, all ok
    prediction: str
    semantics: Semantics
    strict: bool
    limits: ExecLimits
    ves_iterations: int


@dataclass(frozen=True)
class _MetricsTask:
    index: int
    gold_sql: str
    prediction: str
    schema: DbSchema | None


@dataclass(frozen=True)
class _PredOutcome:
    index: int
    exec_match: bool
    error_kind: str | None = None
    error: str | None = None
    seconds: float | None = None
    ves_ratio: float | None = None
    valid_sql: bool = True  # SQLite compiles it on the database (sql_exec.sqlite_prepares)


_Task = _GoldInfoTask | _GoldTask | _PredTask | _MetricsTask
_Outcome = tuple[PreparedQuery, str | None] | ExecResult | _PredOutcome | tuple[int, TextMetrics | None]


def _run_task(task: _Task) -> _Outcome:
    """Entry point in a worker process (or in-process when workers=0)."""
    if isinstance(task, _GoldInfoTask):
        return _prepare_gold(task.sql, task.semantics, task.strict)
    if isinstance(task, _GoldTask):
        return sql_exec.execute_readonly(task.db_path, task.sql, task.limits, text_decoding=task.decoding)
    if isinstance(task, _PredTask):
        return _score_prediction(task)
    return task.index, text_metrics(task.gold_sql, task.prediction, task.schema)


def _prepare_gold(sql: str, semantics: Semantics, strict: bool) -> tuple[PreparedQuery, str | None]:
    if semantics == "bird":
        return PreparedQuery(sql), None
    from t2sql_pipeline.core.sql.hardness import HardnessError, spider_hardness

    try:
        hardness: str | None = spider_hardness(sql)
    except HardnessError:
        hardness = None  # the question is scored but belongs to no level
    return spider_prepare(sql, is_gold=True, strict=strict), hardness


def _score_prediction(task: _PredTask) -> _PredOutcome:
    if not task.prediction.strip():
        return _PredOutcome(task.index, False, "syntax", "empty prediction", valid_sql=False)
    limits = task.limits
    if task.semantics == "spider":
        pred_sql, decoding = spider_prepare(task.prediction, is_gold=False, strict=task.strict).sql, "ignore"
    else:  # BIRD: gold and prediction share one time limit
        pred_sql, decoding = task.prediction, "strict"
        limits = replace(limits, timeout_s=max(0.0, limits.timeout_s - task.gold_results[0].seconds))
    if pred_sql == task.gold.sql and all(g.seconds < limits.timeout_s for g in task.gold_results):
        return _PredOutcome(task.index, True)  # same text on the same file: same rows, no need to run
    seconds = 0.0
    for db_path, gold in zip(task.db_paths, task.gold_results, strict=True):
        result = sql_exec.execute_readonly(db_path, pred_sql, limits, text_decoding=decoding)
        seconds += result.seconds
        if result.rows is None or gold.rows is None:
            # A timeout or a row cap means it compiled; otherwise ask SQLite whether it compiles at all.
            valid = result.error_kind == "timeout" or sql_exec.sqlite_prepares(db_path, pred_sql, text_decoding=decoding)
            return _PredOutcome(task.index, False, result.error_kind, result.error, seconds, valid_sql=valid)
        if task.semantics == "spider":
            order_matters = task.gold.order_matters
            same = spider_rows_match(gold.rows, result.rows, order_matters=order_matters, strict=task.strict)
        else:
            same = bird_rows_match(gold.rows, result.rows)
        if not same:
            return _PredOutcome(task.index, False, None, None, seconds)
    ves_ratio = None
    if task.ves_iterations and task.semantics == "bird":
        ves_ratio = _time_ratio(task.db_paths[0], task.gold.sql, pred_sql, task.limits, task.ves_iterations)
    return _PredOutcome(task.index, True, None, None, seconds, ves_ratio)


def _time_ratio(db_path: Path, gold_sql: str, pred_sql: str, limits: ExecLimits, iterations: int) -> float:
    """BIRD VES: gold time / predicted time per run, outliers (3 sigma) dropped, averaged."""
    ratios = []
    for _ in range(iterations):
        pred = sql_exec.execute_readonly(db_path, pred_sql, limits)
        gold = sql_exec.execute_readonly(db_path, gold_sql, limits)
        if not (pred.ok and gold.ok):
            return 0.0
        ratios.append(gold.seconds / max(pred.seconds, 1e-9))
    return mean_without_outliers(ratios)


def _task_budget_s(task: _Task) -> float:
    if isinstance(task, _GoldTask):
        return task.limits.timeout_s
    if isinstance(task, _PredTask):
        return task.limits.timeout_s * (1 + 2 * task.ves_iterations) * len(task.db_paths)
    return _PYTHON_TASK_BUDGET_S


def _task_overrun(task: _Task, reason: str) -> _Outcome:
    kind: sql_exec.ErrorKind = "timeout" if reason.startswith(KILLED) else "runtime"
    if isinstance(task, _GoldTask):
        return ExecResult(None, kind, reason, task.limits.timeout_s)
    if isinstance(task, _PredTask):
        return _PredOutcome(task.index, False, kind, reason, task.limits.timeout_s)
    if isinstance(task, _GoldInfoTask):
        raise EvaluationInputError(f"preparing this gold SQL ran past {reason}: {task.sql[:200]!r}")
    return task.index, None  # text metrics stuck on one prediction: reported as not available


# ----------------------------------------------------------------------------- orchestration


def default_workers() -> int:
    """One worker per CPU this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Evaluator:
    """Scores prediction lists against gold on one database folder; reuse it across files.

    Gold queries are prepared, classified (Spider hardness) and executed once
    per evaluator; worker processes live until `close()` (or the `with` block ends).
    `workers=0` runs everything in this process (timeouts then rely on SQLite's
    progress handler alone).
    """

    def __init__(
        self,
        db_dir: Path,
        *,
        semantics: Semantics = "spider",
        timeout_s: float = 30.0,
        workers: int | None = None,
        strict: bool = False,
        schemas: Mapping[str, DbSchema] | None = None,
        ves_iterations: int = 0,
        text_metrics: bool = True,
        max_rows: int = ExecLimits.max_rows,
    ) -> None:
        if semantics not in ("spider", "bird"):
            raise ValueError(f"semantics must be 'spider' or 'bird', got {semantics!r}")
        self.db_dir = Path(db_dir)
        self.semantics: Semantics = semantics
        self.strict = strict
        self.limits = ExecLimits(timeout_s=timeout_s, max_rows=max_rows)
        self.workers = default_workers() if workers is None else workers
        self.ves_iterations = ves_iterations
        self.text_metrics = text_metrics
        self._schemas: dict[str, DbSchema | None] = dict(schemas or {})
        self._gold_info: dict[str, tuple[PreparedQuery, str | None]] = {}  # raw SQL -> prepared, hardness
        self._gold_rows: dict[tuple[Path, str], ExecResult] = {}  # (file, prepared SQL) -> result
        self._pool = WorkerPool(self.workers) if self.workers > 0 else None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def evaluate(self, gold: Sequence[GoldQuery], predictions: Sequence[str]) -> EvaluationResult:
        """Score `predictions[i]` against `gold[i]` for every question."""
        if len(gold) != len(predictions):
            raise EvaluationInputError(
                f"{len(predictions)} predictions for {len(gold)} gold questions: counts must match"
            )
        start = time.monotonic()
        # 1. gold text: rewrite (Spider) and hardness, once per distinct SQL
        new_sql = sorted({g.sql for g in gold} - self._gold_info.keys())
        tasks: list[_Task] = [_GoldInfoTask(sql, self.semantics, self.strict) for sql in new_sql]
        self._gold_info.update(zip(new_sql, self._run(tasks)))  # type: ignore[arg-type]
        # 2. gold rows, once per (database file, prepared SQL)
        db_paths = [self._db_paths(g.db_id) for g in gold]
        prepared = [self._gold_info[g.sql][0] for g in gold]
        keys = sorted({(p, q.sql) for paths, q in zip(db_paths, prepared) for p in paths} - self._gold_rows.keys())
        decoding: TextDecoding = "ignore" if self.semantics == "spider" else "strict"
        tasks = [_GoldTask(path, sql, decoding, self.limits) for path, sql in keys]
        self._gold_rows.update(zip(keys, self._run(tasks)))  # type: ignore[arg-type]
        # 3. predictions (execution, and text metrics), in parallel
        tasks = []
        for i, (g, paths, query) in enumerate(zip(gold, db_paths, prepared, strict=True)):
            golds = tuple(self._gold_rows[(p, query.sql)] for p in paths)
            if paths and all(r.ok for r in golds):
                tasks.append(_PredTask(i, paths, query, golds, predictions[i], self.semantics, self.strict,
                                       self.limits, self.ves_iterations))
            if self.text_metrics:
                tasks.append(_MetricsTask(i, g.sql, predictions[i], self._schema(g.db_id, paths)))
        outcomes = self._run(tasks)
        preds = {o.index: o for o in outcomes if isinstance(o, _PredOutcome)}
        texts = dict(o for o in outcomes if isinstance(o, tuple) and isinstance(o[0], int))
        questions = tuple(
            self._record(i, g, db_paths[i], preds.get(i), texts.get(i)) for i, g in enumerate(gold)
        )
        return EvaluationResult(self._summary(questions, time.monotonic() - start), questions)

    def _db_paths(self, db_id: str) -> tuple[Path, ...]:
        """The database file, plus (Spider) the test-suite files beside it, as officially."""
        folder = self.db_dir / db_id
        if not (folder / f"{db_id}.sqlite").is_file():
            return ()
        if self.semantics == "bird":
            return (folder / f"{db_id}.sqlite",)
        return tuple(sorted(p for p in folder.iterdir() if ".sqlite" in p.name and p.is_file()))

    def _schema(self, db_id: str, paths: tuple[Path, ...]) -> DbSchema | None:
        if db_id not in self._schemas:
            self._schemas[db_id] = DbSchema.build(read_schema(paths[0])) if paths else None
        return self._schemas[db_id]

    def _run(self, tasks: Sequence[_Task]) -> list[_Outcome]:
        if self._pool is None:
            return [_run_task(task) for task in tasks]
        out: list[_Outcome | None] = [None] * len(tasks)
        for position, result in self._pool.run(_run_task, tasks, budget_s=_task_budget_s, on_overrun=_task_overrun):
            out[position] = result
        return out  # type: ignore[return-value]

    def _record(
        self, index: int, gold: GoldQuery, paths: tuple[Path, ...], pred: _PredOutcome | None,
        text: TextMetrics | None,
    ) -> QuestionResult:
        query, hardness = self._gold_info[gold.sql]
        exec_match, kind, error, seconds, ves_ratio = None, None, None, None, None
        if not paths:
            kind, error = "missing_db", f"database not found: {self.db_dir / gold.db_id / (gold.db_id + '.sqlite')}"
        elif pred is None:
            failed = next(r for p in paths if not (r := self._gold_rows[(p, query.sql)]).ok)
            kind, error = "gold_error", f"gold query failed ({failed.error_kind}): {failed.error}"
        else:
            exec_match, kind, error, seconds, ves_ratio = (
                pred.exec_match, pred.error_kind, pred.error, pred.seconds, pred.ves_ratio
            )
        # Valid SQL: SQLite compiles it on the question's database; None where there is no database to ask.
        valid_sql = pred.valid_sql if pred is not None else None
        return QuestionResult(
            index, gold.db_id, exec_match, kind, error, hardness, gold.difficulty, seconds,
            valid_sql, text.exact_set_match if text else None,
            text.rouge_l if text else None, text.hallucinated if text else None, ves_ratio,
        )

    def _summary(self, questions: Sequence[QuestionResult], seconds: float) -> EvaluationSummary:
        return summarize(questions, self.semantics, self.strict, self.limits.timeout_s, self.workers, seconds)


def evaluate_predictions(
    gold: Sequence[GoldQuery],
    predictions: Sequence[str],
    db_dir: Path,
    *,
    semantics: Semantics = "spider",
    timeout_s: float = 30.0,
    workers: int | None = None,
    strict: bool = False,
    schemas: Mapping[str, DbSchema] | None = None,
    ves_iterations: int = 0,
    text_metrics: bool = True,
    max_rows: int = ExecLimits.max_rows,
) -> EvaluationResult:
    """Execution-evaluate `predictions` against `gold` on `db_dir/<db_id>/<db_id>.sqlite`.

    >>> result = evaluate_predictions(gold, preds, Path("spider/database"))  # doctest: +SKIP
    >>> result.summary.execution_accuracy  # doctest: +SKIP
    0.81
    """
    with Evaluator(
        db_dir, semantics=semantics, timeout_s=timeout_s, workers=workers, strict=strict,
        schemas=schemas, ves_iterations=ves_iterations, text_metrics=text_metrics, max_rows=max_rows,
    ) as evaluator:
        return evaluator.evaluate(gold, predictions)
