"""configs/experiments/spider-dev-local.yaml: the data stages on the real Spider dev files.

Their speed is measured by benchmarks/data_stages.py, not asserted here.

Skips cleanly when ../shared/data (or T2SQL_SHARED_DATA) is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from datasets import load_from_disk

from t2sql_pipeline.core import stages as pipeline
from t2sql_pipeline.core.data.schema_prompt import SAMPLE_VALUES_PREFIX
from t2sql_pipeline.core.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
SPIDER_DEV = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "spider-dev"


def test_spider_dev_local_data_stages(tmp_path: Path) -> None:
    if not (SPIDER_DEV / "dev.json").is_file():
        pytest.skip(f"Spider dev not found at {SPIDER_DEV} (set T2SQL_SHARED_DATA)")
    settings = load_settings("spider-dev-local", overrides=[f"data.spider.path={SPIDER_DEV}"])
    ctx = pipeline.RunContext(settings, tmp_path / "run", tracking_uri="unused", log=lambda _: None)

    raws = [pipeline.raw_data(ctx, "spider"), pipeline.raw_data(ctx, "bird")]
    sampled = pipeline.sample(ctx, raws)
    base = pipeline.base_model(ctx, sampled)
    splits = pipeline.tokenized_splits(ctx, sampled, base)

    spider, bird = raws
    assert (spider.n_examples + sum(spider.excluded.values()), spider.excluded) == (1034, {"missing_database": 62})
    assert spider.n_databases == 19 and bird.n_examples == 0
    assert sampled.n_sample == 972  # fraction 1.0
    assert {name: s.databases for name, s in splits.splits.items()}["train"] >= 10
    data = load_from_disk(splits.path)
    assert sum(len(data[name]) for name in data) + sum(s.dropped_too_long for s in splits.splits.values()) == 972
    db_sets = [set(data[name]["db_id"]) for name in ("train", "validation", "test")]
    assert not (db_sets[0] & db_sets[1] or db_sets[0] & db_sets[2] or db_sets[1] & db_sets[2])
    # 3 sample values per column overflow 512 tokens on the larger schemas: shrinking must have worked
    assert sum(s.shrunk_sample_values for s in splits.splits.values()) > 0
    assert all(s.max_tokens <= 512 for s in splits.splits.values())


def test_spider_dev_local_sample_values_reach_the_prompt(tmp_path: Path) -> None:
    if not (SPIDER_DEV / "dev.json").is_file():
        pytest.skip(f"Spider dev not found at {SPIDER_DEV} (set T2SQL_SHARED_DATA)")
    settings = load_settings("spider-dev-local", overrides=[f"data.spider.path={SPIDER_DEV}"])
    raw = pipeline.raw_data(pipeline.RunContext(settings, tmp_path, "unused", log=lambda _: None), "spider")
    from t2sql_pipeline.core.data.example_store import read_examples

    examples = read_examples(Path(raw.path))
    assert all(SAMPLE_VALUES_PREFIX in e.schema for e in examples)
    singer = next(e for e in examples if e.db_id == "concert_singer")
    assert "'Joe Sharp'" in singer.schema


def test_the_documented_command_runs_the_data_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if not (SPIDER_DEV / "dev.json").is_file():
        pytest.skip(f"Spider dev not found at {SPIDER_DEV} (set T2SQL_SHARED_DATA)")
    from t2sql_pipeline.cli import main

    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    command = ["materialize", "--experiment", "spider-dev-local", "--select", "+tokenized_splits", "--set", f"data.spider.path={SPIDER_DEV}"]
    assert main(command) == 0  # the README's command for this experiment
    assert "materialized raw_spider, raw_bird, stratified_sample, base_model, tokenized_splits in " in capsys.readouterr().out
