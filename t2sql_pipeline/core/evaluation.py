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

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from t2sql_pipeline.core import metrics, sql_exec
from t2sql_pipeline.core.gold_cache import GoldCache
from t2sql_pipeline.core.metrics import DbSchema, GoldText, PreparedQuery, TextMetrics
from t2sql_pipeline.core.sql import exact_eval
from t2sql_pipeline.core.sql.exact_match import ExactMatch, ForeignKeyMap
from t2sql_pipeline.core.sql.exact_scores import ExactLevel, exact_levels, levels_as_dict
from t2sql_pipeline.core.sql.official_parse import OfficialSql
from t2sql_pipeline.core.sql_exec import ExecLimits, ExecResult, TextDecoding, WorkerPool, read_schema

Semantics = Literal["spider", "bird"]
ERROR_KINDS = ("syntax", "runtime", "timeout", "missing_db", "gold_error")
_PYTHON_TASK_BUDGET_S = 60.0  # sqlglot/sqlparse on one line of text; generous, never expected


class EvaluationInputError(ValueError):
    """A gold or prediction file that cannot be evaluated; the message names file and line."""


@dataclass(frozen=True)
class GoldQuery:
    """One gold question: SQL, database id and (BIRD) difficulty when known."""

    sql: str
    db_id: str
    difficulty: str | None = None


# ----------------------------------------------------------------------------- input files


def _read_lines(path: Path) -> list[str]:
    """Lines as the official scripts see them (universal newlines, no final empty line)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EvaluationInputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_gold_file(path: Path, *, difficulties: Sequence[str] | None = None) -> list[GoldQuery]:
    """Read `SQL<TAB>db_id` lines (Spider dev_gold.sql, BIRD dev.sql)."""
    gold = []
    for number, line in enumerate(_read_lines(path), start=1):
        sql, tab, db_id = line.strip().rpartition("\t")
        if not tab or not sql.strip() or not db_id.strip():
            raise EvaluationInputError(f"{path}:{number}: expected 'SQL<TAB>db_id', got {line[:80]!r}")
        gold.append(GoldQuery(sql.strip(), db_id.strip()))
    if not gold:
        raise EvaluationInputError(f"{path}: no questions (the gold file is empty)")
    if difficulties is not None:
        if len(difficulties) != len(gold):
            raise EvaluationInputError(
                f"{path} has {len(gold)} questions but the difficulty file has {len(difficulties)}"
            )
        gold = [replace(g, difficulty=d) for g, d in zip(gold, difficulties, strict=True)]
    return gold


def read_prediction_file(path: Path, *, expected: int | None = None) -> list[str]:
    """One predicted SQL per line; anything after a TAB on a line is ignored."""
    # Exactly the official text (strip, then cut at the TAB): " value " matching depends on it.
    predictions = [line.strip().split("\t")[0] for line in _read_lines(path)]
    if expected is not None and len(predictions) != expected:
        raise EvaluationInputError(
            f"{path} has {len(predictions)} prediction lines but the gold file has {expected} questions"
        )
    return predictions


def read_bird_difficulties(dev_json: Path) -> list[str]:
    """The `difficulty` of every question in a BIRD dev.json, in file order."""
    records = json.loads(dev_json.read_text(encoding="utf-8"))
    try:
        return [str(record["difficulty"]) for record in records]
    except (KeyError, TypeError) as exc:
        raise EvaluationInputError(f"{dev_json}: every record needs a 'difficulty' field") from exc


def read_tables_json(path: Path) -> dict[str, DbSchema]:
    """Schemas from a Spider-format tables.json (original table and column names)."""
    schemas = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        tables: dict[str, list[str]] = {name: [] for name in entry["table_names_original"]}
        for table_index, column in entry["column_names_original"]:
            if table_index >= 0:  # -1 is Spider's "*"
                tables[entry["table_names_original"][table_index]].append(column)
        schemas[entry["db_id"]] = DbSchema.build(tables)
    return schemas


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
_Outcome = (
    tuple[PreparedQuery, str | None] | ExecResult | _PredOutcome | tuple[int, TextMetrics | None] | _ExactOutcome
    | GoldText | None
)


def _run_task(task: _Task) -> _Outcome:
    """Entry point in a worker process (or in-process when workers=0)."""
    if isinstance(task, _GoldInfoTask):
        return _prepare_gold(task.sql, task.semantics, task.strict)
    if isinstance(task, _GoldTask):
        return sql_exec.execute_readonly(task.db_path, task.sql, task.limits, text_decoding=task.decoding)
    if isinstance(task, _PredTask):
        return _score_prediction(task)
    if isinstance(task, _ExactTask):
        return _ExactOutcome(task.index, exact_eval.score_exact(task.db_path, task.gold, task.prediction,
                                                                dict(task.fk_map)))
    if isinstance(task, _GoldTextTask):
        return metrics.gold_text(task.sql, task.schema, set_match=False)
    # Exact match is the official one (_ExactTask); our sqlglot set match is not computed.
    return task.index, metrics.text_metrics(task.gold_sql, task.prediction, task.schema, task.gold, set_match=False)


def _prepare_gold(sql: str, semantics: Semantics, strict: bool) -> tuple[PreparedQuery, str | None]:
    if semantics == "bird":
        return PreparedQuery(sql), None
    from t2sql_pipeline.core.hardness import HardnessError, spider_hardness

    try:
        hardness: str | None = spider_hardness(sql)
    except HardnessError:
        hardness = None  # the question is scored but belongs to no level
    return metrics.spider_prepare(sql, is_gold=True, strict=strict), hardness


def _score_prediction(task: _PredTask) -> _PredOutcome:
    if not task.prediction.strip():
        return _PredOutcome(task.index, False, "syntax", "empty prediction", valid_sql=False)
    limits = task.limits
    if task.semantics == "spider":
        pred_sql, decoding = metrics.spider_prepare(task.prediction, is_gold=False, strict=task.strict).sql, "ignore"
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
            same = metrics.spider_rows_match(gold.rows, result.rows, order_matters=order_matters, strict=task.strict)
        else:
            same = metrics.bird_rows_match(gold.rows, result.rows)
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
    return metrics.mean_without_outliers(ratios)


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
        if isinstance(task, _GoldTask) or (isinstance(task, _PredTask) and (
                task.ves_iterations or sum(g.seconds for g in task.gold_results) >= _FAST_GOLD_S)):
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
    kind: sql_exec.ErrorKind = "timeout" if reason.startswith(sql_exec.KILLED) else "runtime"
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


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class QuestionResult:
    """One question's record in the report (`exec_match` None: not scored, see error_kind)."""

    index: int
    db_id: str
    exec_match: bool | None
    exact_match: bool | None  # official Spider exact-set match; None: no database (or unreadable gold)
    error_kind: str | None
    error: str | None
    hardness: str | None
    difficulty: str | None
    pred_seconds: float | None
    valid_sql: bool | None
    rouge_l: float | None
    hallucinated: tuple[str, ...] | None
    ves_ratio: float | None


@dataclass(frozen=True)
class LevelScore:
    """EX over the scored questions of one hardness (Spider) or difficulty (BIRD) level."""

    level: str
    count: int
    execution_accuracy: float | None


@dataclass(frozen=True)
class EvaluationSummary:
    """Run-level figures; rates are over the questions each metric applies to."""

    semantics: Semantics
    strict: bool
    timeout_s: float
    workers: int
    n_questions: int
    n_scored: int
    n_correct: int
    n_missing_db: int
    n_gold_errors: int
    execution_accuracy: float | None  # n_correct / n_scored; None when nothing could be scored
    errors: Mapping[str, int]
    levels: tuple[LevelScore, ...]
    valid_sql_rate: float | None
    exact_match: float | None  # official Spider exact-set match over the questions with a judgement
    exact_levels: tuple[ExactLevel, ...]  # per hardness and 'all': exact match and the official partial scores
    rouge_l: float | None
    hallucination_rate: float | None
    ves: float | None
    r_ves: float | None
    seconds: float


@dataclass(frozen=True)
class EvaluationResult:
    """Summary plus one record per question, in gold order."""

    summary: EvaluationSummary
    questions: tuple[QuestionResult, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-able: {"summary": {...}, "questions": [{...}, ...]}."""
        summary = {k: v for k, v in vars(self.summary).items() if k not in ("levels", "exact_levels")}
        summary["exact_levels"] = levels_as_dict(self.summary.exact_levels)
        summary["errors"] = dict(self.summary.errors)
        summary["levels"] = {
            s.level: {"count": s.count, "execution_accuracy": s.execution_accuracy} for s in self.summary.levels
        }
        questions = [{**vars(q), "hallucinated": _as_list(q.hallucinated)} for q in self.questions]
        return {"summary": summary, "questions": questions}

    def summary_table(self) -> str:
        """A readable multi-line summary (what `t2sql evaluate` prints)."""
        s = self.summary
        mode = "strict" if s.strict else "official quirks" if s.semantics == "spider" else "official"
        lines = [
            f"{s.semantics} execution evaluation ({mode}), timeout {s.timeout_s:g} s, {s.workers} workers",
            f"{'level':<14}{'count':>7}{'EX':>9}{'EM':>9}",
        ]
        exact = {level.level: level.exact for level in s.exact_levels}
        for level in (*s.levels, LevelScore("all", s.n_scored, s.execution_accuracy)):
            em = _pct(exact.get(level.level)) if s.semantics == "spider" else ""
            lines.append(f"{level.level:<14}{level.count:>7}{_pct(level.execution_accuracy):>9}{em:>9}")
        lines.append(
            f"questions {s.n_questions}, scored {s.n_scored}, correct {s.n_correct}, "
            f"missing database {s.n_missing_db}, gold errors {s.n_gold_errors}"
        )
        lines.append("errors: " + ", ".join(f"{kind} {count}" for kind, count in s.errors.items()))
        lines.append(
            f"valid SQL {_pct(s.valid_sql_rate)} (SQLite compiles it; of the {s.n_scored} questions with a database and working gold), "
            f"exact match {_pct(s.exact_match)} (official Spider exact-set match), "
            f"ROUGE-L {_pct(s.rouge_l)}, schema hallucination {_pct(s.hallucination_rate)}"
        )
        if s.ves is not None:
            lines.append(f"VES {s.ves:.2f}, R-VES {s.r_ves:.2f}")
        lines.append(f"time {s.seconds:.1f} s")
        return "\n".join(lines)


def _schema_digest(schema: DbSchema | None) -> str:
    """A stable name for what the gold normal form depends on (the schema's column names)."""
    import hashlib

    return "-" if schema is None else hashlib.sha256("\n".join(sorted(schema.columns)).encode()).hexdigest()[:16]


def _as_list(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


_LEVEL_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")


def _summarize(
    questions: Sequence[QuestionResult], semantics: Semantics, strict: bool, timeout_s: float, workers: int,
    seconds: float, exact: Sequence[ExactMatch | None] = (),
) -> EvaluationSummary:
    exact = list(exact) or [None] * len(questions)
    scored = [q for q in questions if q.exec_match is not None]
    errors = {kind: sum(q.error_kind == kind for q in questions) for kind in ERROR_KINDS}
    by_level: dict[str, list[bool]] = {}
    for q in scored:
        level = q.hardness or q.difficulty
        if level is not None:
            by_level.setdefault(level, []).append(bool(q.exec_match))
    order = sorted(by_level, key=lambda lv: (_LEVEL_ORDER.index(lv) if lv in _LEVEL_ORDER else 99, lv))
    levels = tuple(LevelScore(lv, len(by_level[lv]), _mean(by_level[lv])) for lv in order)
    ves_ratios = [(q.ves_ratio or 0.0) if q.exec_match else 0.0 for q in scored]
    timed = any(q.ves_ratio is not None for q in scored)
    return EvaluationSummary(
        semantics=semantics,
        strict=strict,
        timeout_s=timeout_s,
        workers=workers,
        n_questions=len(questions),
        n_scored=len(scored),
        n_correct=sum(bool(q.exec_match) for q in scored),
        n_missing_db=errors["missing_db"],
        n_gold_errors=errors["gold_error"],
        execution_accuracy=_mean(q.exec_match for q in scored),
        errors=errors,
        levels=levels,
        valid_sql_rate=_mean(q.valid_sql for q in questions),
        exact_match=_mean(q.exact_match for q in questions),
        exact_levels=exact_levels((q.hardness, e) for q, e in zip(questions, exact, strict=True) if e is not None),
        rouge_l=_mean(q.rouge_l for q in questions),
        hallucination_rate=_mean(None if q.hallucinated is None else bool(q.hallucinated) for q in questions),
        ves=metrics.ves(ves_ratios) if timed else None,
        r_ves=metrics.r_ves(ves_ratios) if timed else None,
        seconds=seconds,
    )


# ----------------------------------------------------------------------------- orchestration


def default_workers() -> int:
    """One worker per CPU this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Evaluator:
    """Scores prediction lists against gold on one database folder; reuse it across files.

    Gold queries are prepared, classified (Spider hardness) and executed once
    per evaluator; worker processes live until `close()` (or the `with` block ends).
    Spider semantics also give the official exact-set match; its foreign keys come
    from `foreign_keys` (per db_id, `exact_match.foreign_key_maps(tables.json)`),
    else from each database file's declared foreign keys. With a `GoldCache`, gold
    preparation and gold rows are also kept on disk for later evaluators.
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
        foreign_keys: Mapping[str, ForeignKeyMap] | None = None,
        cache: GoldCache | None = None,
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
        self._foreign_keys: dict[str, ForeignKeyMap] = dict(foreign_keys or {})
        self._cache = cache
        self._gold_info: dict[str, tuple[PreparedQuery, str | None]] = {}  # raw SQL -> prepared, hardness
        self._gold_rows: dict[tuple[Path, str], ExecResult] = {}  # (file, prepared SQL) -> result
        self._gold_text: dict[tuple[str, DbSchema | None], GoldText] = {}  # text metrics' gold side
        self._gold_official: dict[tuple[Path, str], OfficialSql | None] = {}  # official readings of gold SQL
        self._official_loaded: set[Path] = set()
        self._new_official: dict[Path, dict[str, OfficialSql | None]] = {}
        self._all_gold_sql: set[str] = set()
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
        self._all_gold_sql = {g.sql for g in gold}
        # 1. gold text: rewrite (Spider) and hardness, once per distinct SQL (and per cache)
        new_sql = sorted({g.sql for g in gold} - self._gold_info.keys())
        info_kind = f"info|{self.semantics}|{self.strict}"
        if self._cache is not None:
            self._gold_info.update(self._cache.get(info_kind, None, new_sql))
            new_sql = [sql for sql in new_sql if sql not in self._gold_info]
        tasks: list[_Task] = [_GoldInfoTask(sql, self.semantics, self.strict) for sql in new_sql]
        self._gold_info.update(zip(new_sql, self._run(tasks)))  # type: ignore[arg-type]
        if self._cache is not None:
            self._cache.put(info_kind, None, {sql: self._gold_info[sql] for sql in new_sql})
        # 2. gold rows, once per (database file, prepared SQL)
        db_paths = [self._db_paths(g.db_id) for g in gold]
        prepared = [self._gold_info[g.sql][0] for g in gold]
        keys = sorted({(p, q.sql) for paths, q in zip(db_paths, prepared) for p in paths} - self._gold_rows.keys())
        decoding: TextDecoding = "ignore" if self.semantics == "spider" else "strict"
        if self._cache is not None:
            keys = self._cached_gold_rows(keys, decoding)
        tasks = [_GoldTask(path, sql, decoding, self.limits) for path, sql in keys]
        self._gold_rows.update(zip(keys, self._run(tasks)))  # type: ignore[arg-type]
        if self._cache is not None:
            self._store_gold_rows(keys, decoding)
        if self.text_metrics:
            self._prepare_gold_text(gold, db_paths)
        # 3. predictions (execution, and text metrics), in parallel
        tasks = []
        for i, (g, paths, query) in enumerate(zip(gold, db_paths, prepared, strict=True)):
            golds = tuple(self._gold_rows[(p, query.sql)] for p in paths)
            if paths and all(r.ok for r in golds):
                tasks.append(_PredTask(i, paths, query, golds, predictions[i], self.semantics, self.strict,
                                       self.limits, self.ves_iterations))
            if self.text_metrics:
                schema = self._schema(g.db_id, paths)
                tasks.append(_MetricsTask(i, g.sql, predictions[i], schema, self._gold_text.get((g.sql, schema))))
            if paths and self.semantics == "spider":
                main_db = self.db_dir / g.db_id / f"{g.db_id}.sqlite"
                fk_map = tuple(sorted(self._fk_map(g.db_id, main_db).items()))
                tasks.append(_ExactTask(i, main_db, self._official_gold(main_db, g.sql), predictions[i], fk_map))
        outcomes = self._run(tasks)
        preds = {o.index: o for o in outcomes if isinstance(o, _PredOutcome)}
        texts = dict(o for o in outcomes if isinstance(o, tuple) and isinstance(o[0], int))
        exact = {o.index: o.result for o in outcomes if isinstance(o, _ExactOutcome)}
        questions = tuple(
            self._record(i, g, db_paths[i], preds.get(i), texts.get(i), exact.get(i)) for i, g in enumerate(gold)
        )
        exact_list = [exact.get(i) for i in range(len(gold))]
        if self._cache is not None:
            for db_path, readings in self._new_official.items():
                self._cache.put("official", db_path, readings)
            self._new_official.clear()
            self._cache.flush()
        return EvaluationResult(self._summary(questions, time.monotonic() - start, exact_list), questions)

    def _prepare_gold_text(self, gold: Sequence[GoldQuery], db_paths: Sequence[tuple[Path, ...]]) -> None:
        """Gold tokens and normal forms for the text metrics, once per (SQL, schema) and per cache."""
        keys = {(g.sql, self._schema(g.db_id, paths)) for g, paths in zip(gold, db_paths, strict=True)}
        todo = sorted(keys - self._gold_text.keys(), key=lambda key: (key[0], _schema_digest(key[1])))
        by_schema: dict[str, list[tuple[str, DbSchema | None]]] = {}
        for key in todo:
            by_schema.setdefault(f"text|{_schema_digest(key[1])}", []).append(key)
        if self._cache is not None:
            for kind, group in by_schema.items():
                cached = self._cache.get(kind, None, [sql for sql, _ in group])
                self._gold_text.update({(sql, schema): cached[sql] for sql, schema in group if sql in cached})
            todo = [key for key in todo if key not in self._gold_text]
        results = self._run([_GoldTextTask(sql, schema) for sql, schema in todo])
        self._gold_text.update((key, text) for key, text in zip(todo, results) if text is not None)  # type: ignore[misc]
        if self._cache is not None:
            computed = set(todo) & self._gold_text.keys()
            for kind, group in by_schema.items():
                done = {sql: self._gold_text[(sql, schema)] for sql, schema in group if (sql, schema) in computed}
                self._cache.put(kind, None, done)

    def _cached_gold_rows(self, keys: list[tuple[Path, str]], decoding: TextDecoding) -> list[tuple[Path, str]]:
        """Take gold rows from the disk cache; return the keys still to execute."""
        assert self._cache is not None
        kind = f"rows|{decoding}|{self.limits.max_rows}"
        for path in sorted({p for p, _ in keys}):
            for sql, result in self._cache.get(kind, path, [q for p, q in keys if p == path]).items():
                if result.seconds < self.limits.timeout_s:  # it would not time out under this run's limit
                    self._gold_rows[(path, sql)] = result
        return [key for key in keys if key not in self._gold_rows]

    def _store_gold_rows(self, keys: list[tuple[Path, str]], decoding: TextDecoding) -> None:
        assert self._cache is not None
        kind = f"rows|{decoding}|{self.limits.max_rows}"
        for path in sorted({p for p, _ in keys}):
            # A timeout depends on this run's limit and load: never remembered.
            done = {q: r for p, q in keys if p == path and (r := self._gold_rows[(p, q)]).error_kind != "timeout"}
            self._cache.put(kind, path, done)

    def _official_gold(self, db_path: Path, sql: str) -> OfficialSql | None:
        """The official reading of a gold query, from the disk cache when there is one."""
        key = (db_path, sql)
        if key not in self._gold_official:
            if self._cache is not None and db_path not in self._official_loaded:
                self._official_loaded.add(db_path)
                loaded = self._cache.get("official", db_path, self._all_gold_sql)
                self._gold_official.update({(db_path, q): r for q, r in loaded.items()})
        if key not in self._gold_official:
            self._gold_official[key] = exact_eval.read_gold(db_path, sql)
            self._new_official.setdefault(db_path, {})[sql] = self._gold_official[key]
        return self._gold_official[key]

    def _fk_map(self, db_id: str, db_path: Path) -> ForeignKeyMap:
        if db_id not in self._foreign_keys:
            self._foreign_keys[db_id] = exact_eval.foreign_keys_from_sqlite(db_path)
        return self._foreign_keys[db_id]

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
        # Tasks travel in batches (one message each way per batch): a message's round trip,
        # not the work, dominates on a busy machine. A batch of queries that runs past its
        # budget is run again one query at a time, so a hung query still costs only itself.
        units = _units(tasks)
        out: list[_Outcome | None] = [None] * len(tasks)
        again: list[int] = []
        for index, result in self._pool.run(_run_unit, [u for _, u in units], budget_s=_unit_budget_s,
                                            on_overrun=_unit_overrun):
            positions, unit = units[index]
            if result is _RUN_AGAIN:
                again.extend(positions)
                continue
            outcomes = result if isinstance(unit, _Batch) else (result,)
            for position, outcome in zip(positions, outcomes, strict=True):  # type: ignore[arg-type]
                out[position] = outcome
        for index, outcome in self._pool.run(_run_task, [tasks[p] for p in again], budget_s=_task_budget_s,
                                             on_overrun=_task_overrun):
            out[again[index]] = outcome
        return out  # type: ignore[return-value]

    def _record(
        self, index: int, gold: GoldQuery, paths: tuple[Path, ...], pred: _PredOutcome | None,
        text: TextMetrics | None, exact: ExactMatch | None = None,
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
            index, gold.db_id, exec_match, None if exact is None else exact.exact, kind, error, hardness,
            gold.difficulty, seconds,
            valid_sql,
            text.rouge_l if text else None, text.hallucinated if text else None, ves_ratio,
        )

    def _summary(
        self, questions: Sequence[QuestionResult], seconds: float, exact: Sequence[ExactMatch | None] = ()
    ) -> EvaluationSummary:
        return _summarize(questions, self.semantics, self.strict, self.limits.timeout_s, self.workers, seconds, exact)


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
    foreign_keys: Mapping[str, ForeignKeyMap] | None = None,
    cache: GoldCache | None = None,
) -> EvaluationResult:
    """Execution-evaluate `predictions` against `gold` on `db_dir/<db_id>/<db_id>.sqlite`.

    >>> result = evaluate_predictions(gold, preds, Path("spider/database"))  # doctest: +SKIP
    >>> result.summary.execution_accuracy  # doctest: +SKIP
    0.81
    """
    with Evaluator(
        db_dir, semantics=semantics, timeout_s=timeout_s, workers=workers, strict=strict,
        schemas=schemas, ves_iterations=ves_iterations, text_metrics=text_metrics, max_rows=max_rows,
        foreign_keys=foreign_keys, cache=cache,
    ) as evaluator:
        return evaluator.evaluate(gold, predictions)
