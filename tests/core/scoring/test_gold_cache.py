"""The gold cache: shards on disk, what invalidates them, and an Evaluator that reuses them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.scoring import file_evaluator as evaluation
from t2sql_pipeline.core.scoring.file_evaluator import Evaluator
from t2sql_pipeline.core.scoring.gold_cache import GoldCache
from t2sql_pipeline.core.scoring.input_files import GoldQuery
from t2sql_pipeline.core.sql.execution import ExecResult


def make_db(root: Path) -> Path:
    (root / "shop").mkdir(parents=True)
    db = root / "shop" / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL);"
            "CREATE TABLE sale(item_id INTEGER REFERENCES item(id), qty INTEGER);"
            "INSERT INTO item VALUES (1, 'pen', 1.5), (2, 'ink', 9.0);"
            "INSERT INTO sale VALUES (1, 3), (2, 1);"
        )
    conn.close()
    return db


def test_entries_survive_a_new_cache_object_and_a_changed_file_starts_over(tmp_path: Path) -> None:
    db = make_db(tmp_path / "db")
    cache = GoldCache(tmp_path / "cache")
    cache.put("rows", db, {"SELECT 1": "one"})
    cache.flush()
    assert GoldCache(tmp_path / "cache").get("rows", db, ["SELECT 1", "SELECT 2"]) == {"SELECT 1": "one"}
    assert GoldCache(tmp_path / "cache").get("info", db, ["SELECT 1"]) == {}  # another kind
    stat = db.stat()
    os.utime(db, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # the database changed
    assert GoldCache(tmp_path / "cache").get("rows", db, ["SELECT 1"]) == {}
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # written through a temporary file, renamed


def test_an_unreadable_shard_is_a_miss(tmp_path: Path) -> None:
    cache = GoldCache(tmp_path)
    cache.put("info", None, {"q": 1})
    cache.flush()
    for shard in tmp_path.glob("*.pkl"):
        shard.write_bytes(b"not a pickle")
    assert GoldCache(tmp_path).get("info", None, ["q"]) == {}


def test_a_second_evaluator_takes_gold_work_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_dir = make_db(tmp_path / "db").parent.parent
    gold = [
        GoldQuery("SELECT name FROM item WHERE price > 3", "shop"),
        GoldQuery("SELECT T1.name FROM item AS T1 JOIN sale AS T2 ON T1.id = T2.item_id", "shop"),
    ]
    preds = ["SELECT name FROM item WHERE price > 5", "SELECT T1.name FROM item AS T1 JOIN sale AS T2"]
    ran: list[str] = []
    real = evaluation._run_task

    def counting(task: object) -> object:
        ran.append(type(task).__name__)
        return real(task)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "_run_task", counting)
    cache_dir = tmp_path / "cache"
    with Evaluator(db_dir, workers=0, cache=GoldCache(cache_dir)) as first:
        before = first.evaluate(gold, preds)
    assert {"_GoldInfoTask", "_GoldTask", "_GoldTextTask"} <= set(ran)
    ran.clear()
    with Evaluator(db_dir, workers=0, cache=GoldCache(cache_dir)) as second:
        after = second.evaluate(gold, preds)
    assert not {"_GoldInfoTask", "_GoldTask", "_GoldTextTask"} & set(ran)
    strip = [(q.exec_match, q.exact_match, q.hardness, q.hallucinated, q.rouge_l) for q in before.questions]
    assert [(q.exec_match, q.exact_match, q.hardness, q.hallucinated, q.rouge_l) for q in after.questions] == strip
    assert strip[0][:2] == (True, True) and strip[1][1] is True  # exact match ignores ON, foreign keys from the file


def test_cached_gold_rows_that_would_time_out_now_are_not_used(tmp_path: Path) -> None:
    db = make_db(tmp_path / "db")
    sql = "SELECT name FROM item"
    cache = GoldCache(tmp_path / "cache")
    cache.put(f"rows|ignore|{100_000}", db, {sql: ExecResult(rows=[("stale",)], error_kind=None, error=None, seconds=5.0)})
    cache.flush()
    with Evaluator(db.parent.parent, workers=0, timeout_s=2.0, cache=GoldCache(tmp_path / "cache"), text_metrics=False) as evaluator:
        result = evaluator.evaluate([GoldQuery(sql, "shop")], [sql + " WHERE id > 0"])
    assert result.questions[0].exec_match is True  # executed afresh: the 5 s entry exceeds the 2 s limit


def test_a_batch_of_queries_past_its_budget_runs_again_query_by_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_dir = make_db(tmp_path / "db").parent.parent
    slow = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 400000) SELECT count(*) FROM r"
    gold = [GoldQuery("SELECT name FROM item", "shop")] * 3 + [GoldQuery("SELECT 400000", "shop")]
    preds = ["SELECT name FROM item", "SELECT price FROM item", "SELECT name FROM item WHERE id = 1", slow]
    expected = [q.exec_match for q in evaluation.evaluate_predictions(gold, preds, db_dir, workers=0).questions]
    assert expected == [True, False, False, True]
    from t2sql_pipeline.core.sql import worker_pool

    monkeypatch.setattr(evaluation, "WorkerPool", lambda n: worker_pool.WorkerPool(n, grace_s=0.05))
    budgets = evaluation._unit_budget_s
    monkeypatch.setattr(evaluation, "_unit_budget_s", lambda unit: 0.0 if isinstance(unit, evaluation._Batch) and unit.queries else budgets(unit))
    again: list[int] = []
    real_task_budget = evaluation._task_budget_s

    def counting(task: object) -> float:
        if isinstance(task, evaluation._PredTask):  # only the run-again pass asks a query's own budget
            again.append(task.index)
        return real_task_budget(task)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "_task_budget_s", counting)
    with Evaluator(db_dir, workers=1, text_metrics=False) as evaluator:
        result = evaluator.evaluate(gold, preds)
    assert [q.exec_match for q in result.questions] == expected
    assert set(again) == {0, 1, 2, 3}  # the killed batch's queries each ran again on their own budget


def test_an_unwritable_cache_folder_only_loses_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = GoldCache(blocker / "cache")  # cannot be created: its parent is a file
    cache.put("info", None, {"q": 1})
    cache.flush()
    assert GoldCache(blocker / "cache").get("info", None, ["q"]) == {}


def test_every_sql_module_a_producer_imports_is_a_producer_too() -> None:
    # The cache is keyed by these modules' source: a helper moved out of one (as the schema reader was) would
    # otherwise change cached results without starting a new cache.
    import ast
    import importlib.util

    from t2sql_pipeline.core.scoring import gold_cache

    seen: set[str] = set()
    todo = list(gold_cache._PRODUCERS)
    while todo:
        module = todo.pop()
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, f"producer {module} is not found"
        seen.add(module)
        for node in ast.walk(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("t2sql_pipeline.core.sql.") and node.module not in seen:
                todo.append(node.module)
    assert seen <= set(gold_cache._PRODUCERS), f"not producers: {sorted(seen - set(gold_cache._PRODUCERS))}"
