"""EX and ROUGE-L-SQL at each evaluation step: scored on real databases, logged at the step, train mode restored."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

# Imported before any test patches `generation.generate_answers`: model_evaluation binds that name when first
# imported, and a first import inside a patched test would keep the fake there for the rest of the session.
from t2sql_pipeline.core.evaluation import model_evaluation  # noqa: F401
from t2sql_pipeline.core.evaluation.during_training import build_generation_metrics_callback, metrics_table, score_subset, subset_rows
from t2sql_pipeline.core.inference import generation
from t2sql_pipeline.core.inference.generation import GeneratedAnswer
from t2sql_pipeline.core.settings import load_settings
from t2sql_pipeline.core.training.base_models import build_demo_model, build_demo_tokenizer
from tests.conftest import RegisteredSqlModel

GOLD = ["SELECT count(*) FROM singer", "SELECT name FROM singer WHERE age > 30", "SELECT max(age) FROM singer"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    db = tmp_path_factory.mktemp("dbs") / "music" / "music.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
        conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", [(1, "Ann", 25), (2, "Bo", 41), (3, "Cy", 33)])
    conn.close()
    return [{"prompt_ids": [1, 5 + i, 7], "gold_sql": sql, "db_id": "music", "db_path": str(db), "source": "spider"} for i, sql in enumerate(GOLD)]


@pytest.fixture(scope="module")
def tiny():
    settings = load_settings("demo", ["generation.max_new_tokens=4", "generation.batch_size=2"])
    tokenizer = build_demo_tokenizer(GOLD * 5, vocab_size=300)
    model = build_demo_model(settings.model.demo, tokenizer, seed=0)
    return settings, model, tokenizer


def answers_of(texts: list[str]):
    def fake_generate_answers(model, tokenizer, prompts, **kwargs):
        return [GeneratedAnswer(text, True, 3) for text in texts[: len(prompts)]]

    return fake_generate_answers


@pytest.mark.parametrize(
    ("texts", "ex", "rouge"),
    [
        (GOLD, 1.0, 1.0),
        (["SELECT count(*) FROM singer", "SELECT name FROM singer", "SELECT min(age) FROM singer"], 1 / 3, None),
        (["nonsense", "", "DELETE FROM singer"], 0.0, None),
    ],
)
def test_score_subset_executes_the_sql(monkeypatch: pytest.MonkeyPatch, rows: list[dict], tiny, texts: list[str], ex: float, rouge: float | None) -> None:
    settings, model, tokenizer = tiny
    monkeypatch.setattr(generation, "generate_answers", answers_of(texts))
    got_ex, got_rouge = score_subset(model, tokenizer, rows, settings)
    assert got_ex == pytest.approx(ex)
    if rouge is not None:
        assert got_rouge == pytest.approx(rouge)
    else:
        assert 0.0 <= got_rouge < 1.0


def test_the_callback_logs_at_the_step_and_restores_train_mode(rows: list[dict], tiny) -> None:
    settings, model, tokenizer = tiny
    logged: list[tuple[dict, int]] = []
    callback = build_generation_metrics_callback(rows, settings, lambda metrics, step: logged.append((metrics, step)))
    model.train()
    state = SimpleNamespace(is_world_process_zero=True, global_step=20, epoch=1.5)
    callback.on_evaluate(None, state, None, model=model, processing_class=tokenizer, metrics={"eval_loss": 0.5, "eval_mean_token_accuracy": 0.9})
    assert model.training  # generation ran in eval mode; training goes on in train mode
    ((metrics, step),) = logged
    assert step == 20 and set(metrics) == {"eval_ex", "eval_rouge_l_sql", "eval_generation_seconds"}
    assert metrics["eval_ex"] == 0.0  # a random model writes no SQL that runs
    (row,) = callback.history
    assert (row.step, row.epoch, row.eval_loss, row.eval_token_accuracy, row.examples) == (20, 1.5, 0.5, 0.9, 3)
    model.eval()
    callback.on_evaluate(
        None, SimpleNamespace(is_world_process_zero=True, global_step=40, epoch=3.0), None, model=model, processing_class=tokenizer, metrics={}
    )
    assert not model.training and [r.step for r in callback.history] == [20, 40]
    callback.on_evaluate(None, SimpleNamespace(is_world_process_zero=False, global_step=60, epoch=4.0), None, model=model, processing_class=tokenizer)
    assert len(callback.history) == 2  # other ranks do not generate


def test_subset_rows_spread_over_the_validation_databases() -> None:
    from datasets import Dataset

    databases = ["a", "a", "a", "b", "c", "c"]  # the split is grouped by database
    data = Dataset.from_list(
        [{"prompt_ids": [i], "gold_sql": f"SELECT {i}", "db_id": db, "db_path": f"/{db}", "source": "spider", "labels": [i]} for i, db in enumerate(databases)]
    )
    assert [r["gold_sql"] for r in subset_rows(data, 4)] == ["SELECT 0", "SELECT 3", "SELECT 4", "SELECT 1"]
    assert [r["gold_sql"] for r in subset_rows(data, 50)] == [f"SELECT {i}" for i in (0, 3, 4, 1, 5, 2)]
    assert subset_rows(data, 0) == [] and subset_rows(data, 4) == subset_rows(data, 4)  # fixed across calls
    assert "labels" not in subset_rows(data, 1)[0]


def test_metrics_table_leaves_missing_figures_blank() -> None:
    table = metrics_table([{"step": 2, "epoch": None, "eval_loss": None, "eval_token_accuracy": None, "eval_ex": 0.25, "eval_rouge_l_sql": 0.5}])
    assert table.splitlines()[-1] == "| 2 |  |  |  | 25.0% | 0.5000 |"


@pytest.mark.slow
def test_the_pipeline_logs_ex_and_rouge_curves_to_mlflow(registered_sql_model: RegisteredSqlModel) -> None:
    """The fixture trains 4 steps with an evaluation every 2: both curves have a point at steps 2 and 4."""
    from mlflow import MlflowClient

    client = MlflowClient(registered_sql_model.tracking_uri)
    run_id = client.get_model_version(registered_sql_model.name, registered_sql_model.version).run_id
    for key in ("eval_ex", "eval_rouge_l_sql"):
        history = client.get_metric_history(run_id, key)
        assert sorted(m.step for m in history) == [2, 4], key
        assert all(0.0 <= m.value <= 1.0 for m in history)
