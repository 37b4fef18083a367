"""The data asset checks fail, visibly, on planted faults: a shared database, a shared question, failing gold SQL."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from dagster import AssetCheckResult, DagsterInstance, materialize

from t2sql_pipeline.assets.data import (
    gold_sql_runs,
    no_shared_database,
    no_shared_question,
    raw_bird,
    raw_spider,
    split_checks,
    strata_shares_preserved,
    stratified_sample,
    tokenized_splits,
)
from t2sql_pipeline.assets.model import base_model
from t2sql_pipeline.core import stages as pipeline
from t2sql_pipeline.core.data.checks import read_split_rows
from t2sql_pipeline.core.records import SplitsManifest
from t2sql_pipeline.resources.manifest_io import ManifestIOManager
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource

TINY_DATA = [
    "data.synthetic.rows_per_table=20",
    "data.synthetic.spider_questions_per_database=30",
    "data.synthetic.bird_questions_per_database=10",
    "splits.mode=by_database",
    "splits.test_fraction=0.2",
    "splits.validation_fraction=0.2",
]


def row(example_id: str, db_id: str, question: str, sql: str, db_path: Path) -> dict:
    return {"example_id": example_id, "source": "spider", "db_id": db_id, "question": question, "db_path": str(db_path), "gold_sql": sql, "input_ids": [1, 2]}


def save_splits(tmp_path: Path, splits: dict[str, list[dict]], mode: str = "by_database") -> SplitsManifest:
    from datasets import Dataset, DatasetDict

    path = tmp_path / "dataset"
    DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()}).save_to_disk(str(path))
    return SplitsManifest(path=str(path), prompt_format="inst", splits={}, mode=mode)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "d.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    conn.close()
    return path


def test_clean_splits_pass_every_check(tmp_path: Path, db: Path) -> None:
    manifest = save_splits(
        tmp_path,
        {
            "train": [row("a", "d1", "How many?", "SELECT count(*) FROM t", db)],
            "validation": [row("b", "d2", "How many?", "SELECT x FROM t", db)],
            "test": [row("c", "d3", "Which x?", "SELECT x FROM t", db)],
        },
    )
    rows = read_split_rows(manifest.path)
    results = [no_shared_database(manifest, rows), no_shared_question(rows), gold_sql_runs(rows)]
    assert all(isinstance(r, AssetCheckResult) and r.passed for r in results)
    assert results[2].metadata["checked"].value == 3


def test_a_database_in_two_splits_fails_only_when_splitting_by_database(tmp_path: Path, db: Path) -> None:
    splits = {
        "train": [row("a", "d1", "How many?", "SELECT 1", db)],
        "validation": [row("b", "d2", "Q b", "SELECT 1", db)],
        "test": [row("c", "d1", "Another question", "SELECT 1", db)],
    }
    manifest = save_splits(tmp_path / "db", splits)
    failed = no_shared_database(manifest, read_split_rows(manifest.path))
    assert not failed.passed and failed.metadata["shared_databases"].value == 1
    assert "spider:d1 in ('test', 'train')" in str(failed.metadata["examples"].value)
    by_question = save_splits(tmp_path / "q", splits, mode="by_question")
    assert no_shared_database(by_question, read_split_rows(by_question.path)).passed


def test_a_question_in_two_splits_fails(tmp_path: Path, db: Path) -> None:
    manifest = save_splits(
        tmp_path,
        {
            "train": [row("a", "d1", "How many x?", "SELECT 1", db)],
            "validation": [row("b", "d1", "  how MANY x? ", "SELECT 1", db)],
            "test": [row("c", "d1", "Q c", "SELECT 1", db)],
        },
        mode="by_question",
    )
    result = no_shared_question(read_split_rows(manifest.path))
    assert not result.passed and result.metadata["shared_questions"].value == 1


def test_failing_gold_sql_fails_and_names_the_example(tmp_path: Path, db: Path) -> None:
    manifest = save_splits(
        tmp_path,
        {
            "train": [row("good", "d1", "Q1", "SELECT x FROM t", db)],
            "validation": [row("bad", "d1", "Q2", "SELECT y FROM nowhere", db)],
            "test": [row("gone", "d2", "Q3", "SELECT 1", tmp_path / "absent.sqlite")],
        },
    )
    result = gold_sql_runs(read_split_rows(manifest.path))
    assert not result.passed and result.metadata["failing"].value == 2
    listed = str(result.metadata["examples"].value)
    assert "validation bad (d1)" in listed and "nowhere" in listed and "test gone (d2)" in listed


@pytest.mark.slow
def test_materialized_graph_with_planted_faults_fails_every_split_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A splitter that leaks and a leak detector that misses it: the checks, reading the saved data, still catch it."""
    real_split = pipeline.data.split_examples

    def leaky_split(*args, **kwargs):  # type: ignore[no-untyped-def]
        splits = real_split(*args, **kwargs)
        planted = replace(splits["train"][0], example_id="planted/0")  # same database and question, now also in test
        broken = replace(splits["train"][1], gold_sql="SELECT no_such_column FROM no_such_table")
        return {**splits, "train": [splits["train"][0], broken, *splits["train"][2:]], "test": [*splits["test"], planted]}

    monkeypatch.setattr(pipeline.data, "split_examples", leaky_split)
    monkeypatch.setattr(pipeline.data, "find_leaks", lambda splits, by_database: [])
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    result = materialize(
        [raw_spider, raw_bird, stratified_sample, base_model, tokenized_splits, strata_shares_preserved, split_checks],
        instance=DagsterInstance.ephemeral(),
        resources={
            "settings": PipelineSettingsResource(experiment="demo", overrides=TINY_DATA),
            "tracking": MlflowTrackingResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"),
            "manifest_io": ManifestIOManager(base_dir=str(tmp_path / "manifests")),
        },
        raise_on_error=False,
    )
    outcomes = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert outcomes == {
        "strata_shares_preserved": True,
        "splits_share_no_database": False,
        "splits_share_no_question": False,
        "gold_sql_executes": False,
    }
