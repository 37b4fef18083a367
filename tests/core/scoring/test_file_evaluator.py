"""End-to-end evaluation: semantics, error kinds, reports, safety through the pool, real Spider dev."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from t2sql_pipeline.core.scoring.file_evaluator import Evaluator, evaluate_predictions
from t2sql_pipeline.core.scoring.input_files import (
    EvaluationInputError,
    GoldQuery,
    read_bird_difficulties,
    read_gold_file,
    read_prediction_file,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT / ".." / "shared" / "data"))
SPIDER_DEV = SHARED_DATA / "spider-dev"
needs_spider = pytest.mark.skipif(not (SPIDER_DEV / "dev_gold.sql").is_file(), reason=f"Spider dev data not found under {SPIDER_DEV}")


def make_db_dir(root: Path) -> Path:
    """root/shop/shop.sqlite with two small tables (the Spider/BIRD layout)."""
    (root / "shop").mkdir(parents=True)
    conn = sqlite3.connect(root / "shop" / "shop.sqlite")
    conn.executescript(
        "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL, kind TEXT);"
        "INSERT INTO item VALUES (1, 'pen', 1.5, 'office'), (2, 'ink', 9.0, 'office'),"
        " (3, 'tea', 4.0, 'food'), (4, 'value', 2.0, 'food');"
        "CREATE TABLE sale(item_id INTEGER, qty INTEGER);"
        "INSERT INTO sale VALUES (1, 3), (1, 2), (3, 1);"
    )
    conn.commit()
    conn.close()
    return root


# (gold, prediction, exec_match official, exec_match strict, error kind)
CASES = [
    ("SELECT name FROM item WHERE price > 3", "select name from item where price>3;", True, True, None),
    ("SELECT name, price FROM item", "SELECT price, name FROM item", True, True, None),
    ("SELECT name FROM item ORDER BY price", "SELECT name FROM item ORDER BY price DESC", False, False, None),
    ("SELECT name FROM item ORDER BY price", "SELECT name FROM item", False, False, None),
    ("SELECT kind FROM item", "SELECT DISTINCT kind FROM item", True, False, None),
    ("SELECT count(DISTINCT kind) FROM item", "SELECT count(kind) FROM item", True, False, None),
    ("SELECT price FROM item WHERE id = 1", "SELECT price FROM item WHERE id = value ", True, False, "strict:runtime"),
    ("SELECT name FROM item", "SELECT name FROM item; DROP TABLE item", True, False, "strict:syntax"),
    ("SELECT name FROM item", "SELEC name FROM item", False, False, "syntax"),
    ("SELECT name FROM item", "SELECT nickname FROM item", False, False, "runtime"),
    ("SELECT name FROM item", "", False, False, "syntax"),
    ("SELECT name FROM item", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r", False, False, "timeout"),
]


@pytest.mark.parametrize("strict", [False, True])
def test_spider_semantics_quirks_and_error_kinds(tmp_path: Path, strict: bool) -> None:
    db_dir = make_db_dir(tmp_path)
    gold = [GoldQuery(g, "shop") for g, *_ in CASES]
    result = evaluate_predictions(gold, [p for _, p, *_ in CASES], db_dir, timeout_s=0.5, workers=0, strict=strict)
    for (g, p, official, strict_match, kind), q in zip(CASES, result.questions, strict=True):
        assert q.exec_match is (strict_match if strict else official), (g, p)
        expected_kind = kind.split(":")[-1] if kind and (strict or not kind.startswith("strict:")) else None
        assert q.error_kind == expected_kind, (p, q.error)
    assert result.summary.n_scored == len(CASES)


def test_missing_database_and_failing_gold_are_reported_not_scored(tmp_path: Path) -> None:
    db_dir = make_db_dir(tmp_path)
    gold = [
        GoldQuery("SELECT name FROM item", "shop"),
        GoldQuery("SELECT name FROM item", "ghost"),
        GoldQuery("SELECT nickname FROM item", "shop"),
    ]
    result = evaluate_predictions(gold, ["SELECT name FROM item"] * 3, db_dir, workers=0)
    kinds = [(q.exec_match, q.error_kind) for q in result.questions]
    assert kinds == [(True, None), (None, "missing_db"), (None, "gold_error")]
    assert "ghost.sqlite" in str(result.questions[1].error)
    assert "nickname" in str(result.questions[2].error)
    summary = result.summary
    assert (summary.n_scored, summary.n_missing_db, summary.n_gold_errors) == (1, 1, 1)
    assert summary.execution_accuracy == 1.0
    assert summary.errors["missing_db"] == 1 and summary.errors["gold_error"] == 1


def test_report_json_and_table(tmp_path: Path) -> None:
    db_dir = make_db_dir(tmp_path)
    gold = [GoldQuery(g, "shop") for g, *_ in CASES[:4]] + [GoldQuery("SELECT 1", "ghost")]
    result = evaluate_predictions(gold, [p for _, p, *_ in CASES[:4]] + ["SELECT 1"], db_dir, workers=0)
    report = json.loads(json.dumps(result.to_dict()))
    assert report["summary"]["n_questions"] == 5 and report["summary"]["n_missing_db"] == 1
    assert report["summary"]["execution_accuracy"] == pytest.approx(2 / 4)
    assert set(report["summary"]["levels"]) <= {"easy", "medium", "hard", "extra"}
    first = report["questions"][0]
    assert {"index", "db_id", "exec_match", "error_kind", "error", "hardness"} <= set(first)
    assert report["questions"][4]["exec_match"] is None and report["questions"][4]["error_kind"] == "missing_db"
    assert first["valid_sql"] is True and first["hallucinated"] == []
    table = result.summary_table()
    assert "all" in table and "50.0%" in table and "missing database 1" in table


def test_worker_pool_matches_in_process_and_evaluator_is_reusable(tmp_path: Path) -> None:
    db_dir = make_db_dir(tmp_path)
    gold = [GoldQuery(g, "shop") for g, *_ in CASES]
    preds = [p for _, p, *_ in CASES]
    in_process = evaluate_predictions(gold, preds, db_dir, timeout_s=0.5, workers=0).questions
    with Evaluator(db_dir, timeout_s=0.5, workers=2) as evaluator:
        first = evaluator.evaluate(gold, preds).questions
        again = evaluator.evaluate(gold, [g.sql for g in gold]).questions  # gold rows now cached
    strip = [(q.exec_match, q.error_kind, q.valid_sql, q.exact_match, q.rouge_l) for q in in_process]
    assert [(q.exec_match, q.error_kind, q.valid_sql, q.exact_match, q.rouge_l) for q in first] == strip
    assert [(q.exec_match, q.error) for q in again] == [(True, None)] * len(CASES)


def test_adversarial_predictions_through_the_pool_change_no_file(tmp_path: Path) -> None:
    db_dir = make_db_dir(tmp_path / "dbs")
    db = db_dir / "shop" / "shop.sqlite"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    attacks = [
        "DELETE FROM item",
        "DROP TABLE sale",
        "UPDATE item SET price = 0",
        "INSERT INTO sale VALUES (9, 9)",
        f"ATTACH '{tmp_path / 'x.sqlite'}' AS x",
        "PRAGMA user_version = 3",
        f"VACUUM INTO '{tmp_path / 'y.sqlite'}'",
        "SELECT load_extension('evil')",
        "SELECT 1; DELETE FROM item; DROP TABLE item",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELECT count(*) FROM item a, item b, item c, item d, item e, item f, item g, item h, item i, item j, item k",
    ]
    start = time.monotonic()
    result = evaluate_predictions([GoldQuery("SELECT name FROM item", "shop")] * len(attacks), attacks, db_dir, timeout_s=0.5, workers=2)
    # two workers, each query capped at 0.5 s (+1 s grace at worst)
    assert time.monotonic() - start < 5 + 1.5 * len(attacks) / 2
    assert all(q.exec_match is False for q in result.questions)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dbs"]


def test_bird_semantics_difficulty_and_ves(tmp_path: Path) -> None:
    db_dir = make_db_dir(tmp_path / "dbs")
    dev_json = tmp_path / "dev.json"
    dev_json.write_text(json.dumps([{"difficulty": d} for d in ("simple", "moderate", "challenging")]))
    (tmp_path / "dev.sql").write_text("SELECT name, price FROM item\tshop\nSELECT name FROM item ORDER BY price\tshop\nSELECT kind FROM item\tshop\n")
    gold = read_gold_file(tmp_path / "dev.sql", difficulties=read_bird_difficulties(dev_json))
    preds = ["SELECT price, name FROM item", "SELECT name FROM item", "SELECT DISTINCT kind FROM item"]
    result = evaluate_predictions(gold, preds, db_dir, semantics="bird", workers=0, ves_iterations=3)
    # column order counts; row order and duplicates do not
    assert [q.exec_match for q in result.questions] == [False, True, True]
    levels = {s.level: (s.count, s.execution_accuracy) for s in result.summary.levels}
    assert levels == {"simple": (1, 0.0), "moderate": (1, 1.0), "challenging": (1, 1.0)}
    assert result.summary.ves is not None and result.summary.ves > 0
    assert result.summary.r_ves is not None and result.questions[1].ves_ratio is not None


def test_input_files_errors_name_file_line_and_counts(tmp_path: Path) -> None:
    gold_file = tmp_path / "gold.sql"
    gold_file.write_text("SELECT 1\tshop\nSELECT 2 shop\n")
    with pytest.raises(EvaluationInputError, match=r"gold\.sql:2: expected 'SQL<TAB>db_id'"):
        read_gold_file(gold_file)
    gold_file.write_text("SELECT 1\tshop\nSELECT 2\tshop\n")
    pred_file = tmp_path / "pred.sql"
    pred_file.write_text("SELECT 1\tshop\n")
    with pytest.raises(EvaluationInputError, match="1 prediction lines but the gold file has 2"):
        read_prediction_file(pred_file, expected=2)
    pred_file.write_text("SELECT 1\tcomment\n\n")  # a trailing TAB part is ignored; an empty line is a prediction
    assert read_prediction_file(pred_file, expected=2) == ["SELECT 1", ""]
    with pytest.raises(EvaluationInputError, match="3 predictions for 2 gold"):
        evaluate_predictions(read_gold_file(gold_file), ["a", "b", "c"], tmp_path, workers=0)


@needs_spider
def test_spider_dev_gold_against_itself_scores_100_percent() -> None:
    gold = read_gold_file(SPIDER_DEV / "dev_gold.sql")
    result = evaluate_predictions(gold, [g.sql for g in gold], SPIDER_DEV / "database", workers=2, text_metrics=False)
    missing = {g.db_id for g in gold if not (SPIDER_DEV / "database" / g.db_id / f"{g.db_id}.sqlite").is_file()}
    n_missing = sum(g.db_id in missing for g in gold)
    assert result.summary.n_missing_db == n_missing
    assert result.summary.n_scored == len(gold) - n_missing
    assert result.summary.execution_accuracy == 1.0
    assert {q.hardness for q in result.questions} == {"easy", "medium", "hard", "extra"}


@needs_spider
def test_published_predictions_score_in_their_papers_range_and_match_the_reference() -> None:
    spec = importlib.util.spec_from_file_location("evaluator_speed", REPO_ROOT / "benchmarks" / "evaluator_speed.py")
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    gold = read_gold_file(SPIDER_DEV / "dev_gold.sql")
    # Spider dev EX reported by the papers: DAIL-SQL+SC 83.6 (Gao et al. 2023), RESDSQL-3B 81.8 (Li et al. 2023).
    published = {"DAILSQL_SC": 0.836, "RESDSQL_3B": 0.818}
    with Evaluator(SPIDER_DEV / "database", workers=2, text_metrics=False) as evaluator:
        for name, paper_ex in published.items():
            preds = read_prediction_file(SPIDER_DEV / "predictions" / f"{name}.sql", expected=len(gold))
            result = evaluator.evaluate(gold, preds)
            assert result.summary.execution_accuracy == pytest.approx(paper_ex, abs=0.02), name
            if name == "RESDSQL_3B":
                expected = reference.reference_evaluate(gold, preds, SPIDER_DEV / "database", 30.0)
                assert [q.exec_match for q in result.questions] == expected


def test_valid_sql_means_sqlite_compiles_it_on_the_database(tmp_path: Path) -> None:
    import sqlite3

    from t2sql_pipeline.core.scoring.file_evaluator import evaluate_predictions
    from t2sql_pipeline.core.scoring.input_files import GoldQuery

    (tmp_path / "db" / "people").mkdir(parents=True)
    conn = sqlite3.connect(tmp_path / "db" / "people" / "people.sqlite")
    conn.executescript("CREATE TABLE person(name TEXT, city TEXT, age INT); INSERT INTO person VALUES ('a', 'x', 20), ('b', 'x', 40);")
    conn.commit()
    conn.close()
    gold = "SELECT city FROM person GROUP BY city HAVING count(*) > 1"
    predictions = [
        gold,
        "SELECT city FROM person GROUP BY city HAVING COUNT(*) > 1 WHERE age < 30",  # sqlglot parses it; SQLite refuses
        "\x01\x02\x03 ### \x7f",  # control-character garbage
        "SELECT town FROM person",  # no such column
        "SELECT name FROM person",  # valid, wrong answer
        "",
    ]
    result = evaluate_predictions([GoldQuery(gold, "people")] * len(predictions), predictions, tmp_path / "db", workers=0)
    assert [q.valid_sql for q in result.questions] == [True, False, False, False, True, False]
    assert result.summary.valid_sql_rate == pytest.approx(2 / 6)
