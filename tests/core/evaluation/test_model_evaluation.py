"""A model's evaluation with `generation.strategy=execution_vote`: the voted SQL is what gets scored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.evaluation.model_evaluation import evaluate_model
from t2sql_pipeline.core.inference import voting
from t2sql_pipeline.core.inference.voting import SampledAnswer
from t2sql_pipeline.core.settings import load_settings


@pytest.fixture
def rows(tmp_path: Path) -> list[dict]:
    db = tmp_path / "shop" / "shop.sqlite"  # Spider layout: <db_dir>/<db_id>/<db_id>.sqlite
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE item(id INT, price INT); INSERT INTO item VALUES (1, 5), (2, 50), (3, 500);")
    conn.commit()
    conn.close()
    base = {"source": "spider", "db_id": "shop", "db_path": str(db), "difficulty": "easy", "prompt_ids": [1, 5, 9]}
    return [
        {**base, "example_id": "q1", "gold_sql": "SELECT count(*) FROM item"},
        {**base, "example_id": "q2", "gold_sql": "SELECT id FROM item WHERE price > 10"},
    ]


def test_the_vote_decides_what_is_scored(tiny_model, rows, monkeypatch) -> None:
    model, tokenizer = tiny_model
    crafted = [
        ["SELECT count(*) FROM item", "SELECT count(id) FROM item", "SELECT 1"],  # 2 agree on 3 rows: right
        ["SELECT id FROM item", "SELECT id FROM item WHERE price < 10", "SELECT id FROM item WHERE price = 5"],  # 2 agree on id 1: wrong
    ]

    def fake_sampling(model, tokenizer, prompts, *, num_candidates, **_):  # type: ignore[no-untyped-def]
        assert num_candidates == 3 and len(prompts) == 2
        return [[SampledAnswer(sql, -0.1 * k, True, 5, greedy=k == 0) for k, sql in enumerate(group)] for group in crafted]

    monkeypatch.setattr(voting, "sample_answers", fake_sampling)
    settings = load_settings("demo", ["generation.strategy=execution_vote", "generation.num_candidates=3", "evaluation.workers=1"])
    evaluation = evaluate_model("adapter", model, tokenizer, rows, settings)
    first, second = evaluation.records
    assert first.predicted_sql == "SELECT count(*) FROM item;" and first.exec_match is True
    assert (first.vote_candidates, first.vote_executed, first.vote_agreeing) == (3, 3, 2)
    assert second.predicted_sql == "SELECT id FROM item WHERE price < 10;" and second.exec_match is False
    assert evaluation.score.execution_accuracy == 0.5


def test_where_no_candidate_runs_the_greedy_answer_is_scored(tiny_model, rows) -> None:
    model, tokenizer = tiny_model  # random weights: its samples are not SQL
    settings = load_settings(
        "demo", ["generation.strategy=execution_vote", "generation.num_candidates=2", "generation.max_new_tokens=6", "evaluation.workers=1"]
    )
    evaluation = evaluate_model("base", model, tokenizer, rows, settings)
    greedy = evaluate_model("base", model, tokenizer, rows, load_settings("demo", ["generation.max_new_tokens=6", "evaluation.workers=1"]))
    for voted, plain in zip(evaluation.records, greedy.records, strict=True):
        assert (voted.vote_candidates, voted.vote_executed, voted.vote_agreeing) == (2, 0, 0)
        assert voted.predicted_sql == plain.predicted_sql and plain.vote_candidates is None
