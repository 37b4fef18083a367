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
from pathlib import Path

from t2sql_pipeline.core.scoring.evaluator_tasks import (
    _RUN_AGAIN,
    _Batch,
    _ExactOutcome,
    _ExactTask,
    _GoldInfoTask,
    _GoldTask,
    _GoldTextTask,
    _MetricsTask,
    _Outcome,
    _PredOutcome,
    _PredTask,
    _run_task,
    _run_unit,
    _Task,
    _task_budget_s,
    _task_overrun,
    _unit_budget_s,
    _unit_overrun,
    _units,
)
from t2sql_pipeline.core.scoring.file_results import EvaluationResult, EvaluationSummary, QuestionResult, Semantics, summarize
from t2sql_pipeline.core.scoring.gold_cache import GoldCache
from t2sql_pipeline.core.scoring.input_files import EvaluationInputError, GoldQuery
from t2sql_pipeline.core.sql import exact_eval
from t2sql_pipeline.core.sql.exact_match import ExactMatch, ForeignKeyMap
from t2sql_pipeline.core.sql.execution import ExecLimits, ExecResult, TextDecoding, read_schema
from t2sql_pipeline.core.sql.official_parse import OfficialSql
from t2sql_pipeline.core.sql.result_match import PreparedQuery
from t2sql_pipeline.core.sql.text_metrics import DbSchema, GoldText, TextMetrics
from t2sql_pipeline.core.sql.worker_pool import WorkerPool


def _schema_digest(schema: DbSchema | None) -> str:
    """A stable name for what the gold normal form depends on (the schema's column names)."""
    import hashlib

    return "-" if schema is None else hashlib.sha256("\n".join(sorted(schema.columns)).encode()).hexdigest()[:16]


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
            raise EvaluationInputError(f"{len(predictions)} predictions for {len(gold)} gold questions: counts must match")
        start = time.monotonic()
        self._all_gold_sql = {g.sql for g in gold}
        # 1. gold text: rewrite (Spider) and hardness, once per distinct SQL (and per cache)
        new_sql = sorted({g.sql for g in gold} - self._gold_info.keys())
        info_kind = f"info|{self.semantics}|{self.strict}"
        if self._cache is not None:
            self._gold_info.update(self._cache.get(info_kind, None, new_sql))
            new_sql = [sql for sql in new_sql if sql not in self._gold_info]
        tasks: list[_Task] = [_GoldInfoTask(sql, self.semantics, self.strict) for sql in new_sql]
        self._gold_info.update(zip(new_sql, self._run(tasks), strict=True))  # type: ignore[arg-type]
        if self._cache is not None:
            self._cache.put(info_kind, None, {sql: self._gold_info[sql] for sql in new_sql})
        # 2. gold rows, once per (database file, prepared SQL)
        db_paths = [self._db_paths(g.db_id) for g in gold]
        prepared = [self._gold_info[g.sql][0] for g in gold]
        keys = sorted({(p, q.sql) for paths, q in zip(db_paths, prepared, strict=True) for p in paths} - self._gold_rows.keys())
        decoding: TextDecoding = "ignore" if self.semantics == "spider" else "strict"
        if self._cache is not None:
            keys = self._cached_gold_rows(keys, decoding)
        tasks = [_GoldTask(path, sql, decoding, self.limits) for path, sql in keys]
        self._gold_rows.update(zip(keys, self._run(tasks), strict=True))  # type: ignore[arg-type]
        if self._cache is not None:
            self._store_gold_rows(keys, decoding)
        if self.text_metrics:
            self._prepare_gold_text(gold, db_paths)
        # 3. predictions (execution, and text metrics), in parallel
        tasks = []
        for i, (g, paths, query) in enumerate(zip(gold, db_paths, prepared, strict=True)):
            golds = tuple(self._gold_rows[(p, query.sql)] for p in paths)
            if paths and all(r.ok for r in golds):
                tasks.append(_PredTask(i, paths, query, golds, predictions[i], self.semantics, self.strict, self.limits, self.ves_iterations))
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
        questions = tuple(self._record(i, g, db_paths[i], preds.get(i), texts.get(i), exact.get(i)) for i, g in enumerate(gold))
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
        self._gold_text.update((key, text) for key, text in zip(todo, results, strict=True) if text is not None)  # type: ignore[misc]
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
        for index, result in self._pool.run(_run_unit, [u for _, u in units], budget_s=_unit_budget_s, on_overrun=_unit_overrun):
            positions, unit = units[index]
            if result is _RUN_AGAIN:
                again.extend(positions)
                continue
            outcomes = result if isinstance(unit, _Batch) else (result,)
            for position, outcome in zip(positions, outcomes, strict=True):  # type: ignore[arg-type]
                out[position] = outcome
        for index, outcome in self._pool.run(_run_task, [tasks[p] for p in again], budget_s=_task_budget_s, on_overrun=_task_overrun):
            out[again[index]] = outcome
        return out  # type: ignore[return-value]

    def _record(
        self,
        index: int,
        gold: GoldQuery,
        paths: tuple[Path, ...],
        pred: _PredOutcome | None,
        text: TextMetrics | None,
        exact: ExactMatch | None = None,
    ) -> QuestionResult:
        query, hardness = self._gold_info[gold.sql]
        exec_match, kind, error, seconds, ves_ratio = None, None, None, None, None
        if not paths:
            kind, error = "missing_db", f"database not found: {self.db_dir / gold.db_id / (gold.db_id + '.sqlite')}"
        elif pred is None:
            failed = next(r for p in paths if not (r := self._gold_rows[(p, query.sql)]).ok)
            kind, error = "gold_error", f"gold query failed ({failed.error_kind}): {failed.error}"
        else:
            exec_match, kind, error, seconds, ves_ratio = (pred.exec_match, pred.error_kind, pred.error, pred.seconds, pred.ves_ratio)
        # Valid SQL: SQLite compiles it on the question's database; None where there is no database to ask.
        valid_sql = pred.valid_sql if pred is not None else None
        return QuestionResult(
            index,
            gold.db_id,
            exec_match,
            None if exact is None else exact.exact,
            kind,
            error,
            hardness,
            gold.difficulty,
            seconds,
            valid_sql,
            text.rouge_l if text else None,
            text.hallucinated if text else None,
            ves_ratio,
        )

    def _summary(self, questions: Sequence[QuestionResult], seconds: float, exact: Sequence[ExactMatch | None] = ()) -> EvaluationSummary:
        return summarize(questions, self.semantics, self.strict, self.limits.timeout_s, self.workers, seconds, exact)


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
        db_dir,
        semantics=semantics,
        timeout_s=timeout_s,
        workers=workers,
        strict=strict,
        schemas=schemas,
        ves_iterations=ves_iterations,
        text_metrics=text_metrics,
        max_rows=max_rows,
        foreign_keys=foreign_keys,
        cache=cache,
    ) as evaluator:
        return evaluator.evaluate(gold, predictions)
