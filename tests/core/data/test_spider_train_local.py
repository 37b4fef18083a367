"""Spider's training set from ../shared/data/spider-train, as spider-train_smollm2-135m_lora reads it (train there, dev from spider-dev).

Skips cleanly when ../shared/data (or T2SQL_SHARED_DATA) is absent.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.sources import load_source
from t2sql_pipeline.core.data.sources.examples import SourceFormatError
from t2sql_pipeline.core.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SPIDER_TRAIN, SPIDER_DEV = SHARED_DATA / "spider-train", SHARED_DATA / "spider-dev"
SPLIT_PATHS = [f"data.spider.split_paths.train={SPIDER_TRAIN}", f"data.spider.split_paths.dev={SPIDER_DEV}"]


@pytest.fixture(scope="module")
def loaded():
    if not (SPIDER_TRAIN / "train_spider.json").is_file() or not (SPIDER_DEV / "dev.json").is_file():
        pytest.skip(f"Spider train/dev not found under {SHARED_DATA} (set T2SQL_SHARED_DATA)")
    settings = load_settings("spider-train_smollm2-135m_lora", SPLIT_PATHS)
    return load_source("spider", settings.data, Path("/nonexistent-unused"), seed=0)  # the seed only shapes synthetic data


def test_the_training_folder_loads_with_every_exclusion_listed(loaded) -> None:
    train = [e for e in loaded.examples if e.split == "train"]
    excluded = [x for x in loaded.excluded if x.example_id.startswith("spider/train_spider/")]
    assert len(train) == 6901
    assert Counter(x.reason for x in excluded) == {"missing_database": 96, "gold_sql_fails": 3}
    assert {x.db_id for x in excluded if x.reason == "missing_database"} == {"soccer_1", "baseball_1"}
    assert len(train) + len(excluded) == 7000  # nothing dropped without a listed reason
    assert all(x.detail for x in excluded)


def test_train_and_dev_come_from_their_own_folders(loaded) -> None:
    by_split = Counter(e.split for e in loaded.examples)
    assert by_split["dev"] == 972  # spider-dev: 1,034 questions, 62 without a database file
    assert {Path(e.db_path).parents[2] for e in loaded.examples if e.split == "train"} == {SPIDER_TRAIN}
    assert {Path(e.db_path).parents[2] for e in loaded.examples if e.split == "dev"} == {SPIDER_DEV}
    train_dbs = {e.db_id for e in loaded.examples if e.split == "train"}
    dev_dbs = {e.db_id for e in loaded.examples if e.split == "dev"}
    assert len(train_dbs) == 138 and not train_dbs & dev_dbs


def test_a_folder_without_the_split_is_a_clear_error() -> None:
    if not (SPIDER_TRAIN / "train_spider.json").is_file():
        pytest.skip(f"Spider train not found under {SHARED_DATA} (set T2SQL_SHARED_DATA)")
    settings = load_settings("spider-train_smollm2-135m_lora", [f"data.spider.split_paths.train={SPIDER_TRAIN}", f"data.spider.split_paths.dev={SPIDER_TRAIN}"])
    with pytest.raises(SourceFormatError, match=r"^data\.spider\.split_paths\.dev: .*spider-train has no Spider split 'dev': dev\.json not found$"):
        load_source("spider", settings.data, Path("/nonexistent-unused"), seed=0)  # the seed only shapes synthetic data
