"""The evaluator's tasks: frozen dataclasses and module-level functions, so they travel to worker processes by pickle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from t2sql_pipeline.core.scoring.file_results import Semantics
from t2sql_pipeline.core.scoring.input_files import EvaluationInputError
from t2sql_pipeline.core.sql import exact_eval
from t2sql_pipeline.core.sql import execution as sql_exec
from t2sql_pipeline.core.sql.exact_match import ExactMatch
from t2sql_pipeline.core.sql.execution import ExecLimits, ExecResult, TextDecoding
from t2sql_pipeline.core.sql.official_parse import OfficialSql
from t2sql_pipeline.core.sql.result_match import PreparedQuery, bird_rows_match, spider_prepare, spider_rows_match
from t2sql_pipeline.core.sql.text_metrics import DbSchema, GoldText, TextMetrics, gold_text, text_metrics
from t2sql_pipeline.core.sql.ves import mean_without_outliers
from t2sql_pipeline.core.sql.worker_pool import KILLED

_PYTHON_TASK_BUDGET_S = 60.0  # sqlglot/sqlparse on one line of text; generous, never expected

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
    gold: GoldText | None = None


@dataclass(frozen=True)
class _GoldTextTask:
    sql: str
    schema: DbSchema | None


@dataclass(frozen=True)
class _ExactTask:
    index: int
    db_path: Path
    gold: OfficialSql | None  # the official reading of the gold SQL (None: unreadable)
    prediction: str
    fk_map: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _ExactOutcome:
    index: int
    result: ExactMatch | None  # None: the official parser cannot read the gold (or it ran too long)


@dataclass(frozen=True)
class _PredOutcome:
    index: int
    exec_match: bool
    error_kind: str | None = None
    error: str | None = None
    seconds: float | None = None
    ves_ratio: float | None = None
    valid_sql: bool = True  # SQLite compiles it on the database (sql_exec.sqlite_prepares)


_Task = _GoldInfoTask | _GoldTask | _PredTask | _MetricsTask | _ExactTask | _GoldTextTask
_Outcome = tuple[PreparedQuery, str | None] | ExecResult | _PredOutcome | tuple[int, TextMetrics | None] | _ExactOutcome | GoldText | None


def _run_task(task: _Task) -> _Outcome:
    """Entry point in a worker process (or in-process when workers=0)."""
    if isinstance(task, _GoldInfoTask):
        return _prepare_gold(task.sql, task.semantics, task.strict)
    if isinstance(task, _GoldTask):
        return sql_exec.execute_readonly(task.db_path, task.sql, task.limits, text_decoding=task.decoding)
    if isinstance(task, _PredTask):
        return _score_prediction(task)
    if isinstance(task, _ExactTask):
        return _ExactOutcome(task.index, exact_eval.score_exact(task.db_path, task.gold, task.prediction, dict(task.fk_map)))
    if isinstance(task, _GoldTextTask):
        return gold_text(task.sql)
    # The remaining kind, _MetricsTask: ROUGE-L and hallucinated names (core.sql.text_metrics).
    return task.index, text_metrics(task.gold_sql, task.prediction, task.schema, task.gold)


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


@dataclass(frozen=True)
class _Batch:
    tasks: tuple[_Task, ...]
    queries: bool  # True: predictions to execute (budget: the largest one's; overrun: run each again)


_BATCH_SIZE = 32  # Python-only tasks
_QUERY_BATCH_SIZE = 8  # predictions whose gold ran fast, without VES timing
_FAST_GOLD_S = 1.0
_RUN_AGAIN = object()  # a batch of queries overran: its tasks go again, one by one


def _units(tasks: Sequence[_Task]) -> list[tuple[list[int], _Task | _Batch]]:
    """Group tasks into batches: Python-only work, and queries expected to be quick."""
    units: list[tuple[list[int], _Task | _Batch]] = []
    open_batches: dict[bool, list[int]] = {False: [], True: []}
    for position, task in enumerate(tasks):
        if isinstance(task, _GoldTask) or (isinstance(task, _PredTask) and (task.ves_iterations or sum(g.seconds for g in task.gold_results) >= _FAST_GOLD_S)):
            units.append(([position], task))
            continue
        queries = isinstance(task, _PredTask)
        batch = open_batches[queries]
        batch.append(position)
        if len(batch) == (_QUERY_BATCH_SIZE if queries else _BATCH_SIZE):
            units.append((batch, _Batch(tuple(tasks[p] for p in batch), queries)))
            open_batches[queries] = []
    for queries, batch in open_batches.items():
        if batch:
            units.append((batch, _Batch(tuple(tasks[p] for p in batch), queries)))
    return units


def _run_unit(unit: _Task | _Batch) -> object:
    return tuple(map(_run_task, unit.tasks)) if isinstance(unit, _Batch) else _run_task(unit)


def _unit_budget_s(unit: _Task | _Batch) -> float:
    if not isinstance(unit, _Batch):
        return _task_budget_s(unit)
    budgets = [_task_budget_s(task) for task in unit.tasks]
    return max(budgets) if unit.queries else sum(budgets)


def _unit_overrun(unit: _Task | _Batch, reason: str) -> object:
    if not isinstance(unit, _Batch):
        return _task_overrun(unit, reason)
    return _RUN_AGAIN if unit.queries else tuple(_task_overrun(task, reason) for task in unit.tasks)


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
    if isinstance(task, _ExactTask):
        return _ExactOutcome(task.index, None)
    if isinstance(task, _GoldTextTask):
        return None  # not kept: each text metrics task recomputes it under its own budget
    return task.index, None  # text metrics stuck on one prediction: reported as not available
