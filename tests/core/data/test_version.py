import os
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.version import folder_fingerprint, raw_data_version
from t2sql_pipeline.core.settings import load_settings


def _spider_folder(root: Path) -> Path:
    (root / "database" / "shop").mkdir(parents=True)
    (root / "train_spider.json").write_text('[{"db_id": "shop", "question": "q", "query": "SELECT 1"}]')
    (root / "tables.json").write_text("[]")
    (root / "database" / "shop" / "shop.sqlite").write_bytes(b"SQLite format 3\0" + b"\0" * 100)
    return root


def _local(root: Path, **extra: str) -> list[str]:
    return ["data.spider.kind=local", f"data.spider.path={root}", "data.bird.kind=none", *(f"{k}={v}" for k, v in extra.items())]


def test_same_data_same_version_and_json_content_changes_it(tmp_path: Path) -> None:
    root = _spider_folder(tmp_path / "spider")
    first = raw_data_version(load_settings("demo", _local(root)))
    assert first == raw_data_version(load_settings("demo", _local(root)))
    stat = (root / "train_spider.json").stat()
    (root / "train_spider.json").write_text('[{"db_id": "shop", "question": "Q", "query": "SELECT 1"}]')  # same size
    os.utime(root / "train_spider.json", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only the content differs
    assert raw_data_version(load_settings("demo", _local(root))) != first


def test_database_files_count_by_size_and_mtime(tmp_path: Path) -> None:
    root = _spider_folder(tmp_path / "spider")
    db = root / "database" / "shop" / "shop.sqlite"
    before = folder_fingerprint(root)
    stat = db.stat()
    os.utime(db, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = folder_fingerprint(root)
    assert touched != before
    (root / "database" / "new").mkdir()
    (root / "database" / "new" / "new.sqlite").write_bytes(b"x")
    assert folder_fingerprint(root) != touched
    (root / ".cache").mkdir()
    (root / ".cache" / "x.json").write_text("{}")  # hidden files are not data
    (root / "database" / "new" / "new.sqlite").unlink()
    (root / "database" / "new").rmdir()
    assert folder_fingerprint(root) == touched


def test_synthetic_version_follows_settings_and_seed() -> None:
    demo = raw_data_version(load_settings("demo"))
    assert len(demo) == 16 and demo == raw_data_version(load_settings("demo"))
    assert raw_data_version(load_settings("demo", ["experiment.seed=7"])) != demo
    assert raw_data_version(load_settings("demo", ["data.synthetic.rows_per_table=50"])) != demo
    assert raw_data_version(load_settings("demo", ["training.max_steps=5"])) == demo  # not a data setting


def test_hub_version_is_id_revision_and_local_schema_files(tmp_path: Path) -> None:
    tables = tmp_path / "tables.json"
    tables.write_text("[]")
    (tmp_path / "dbs").mkdir()
    hub = ["data.spider.kind=hub", f"data.spider.tables_path={tables}", f"data.spider.databases_path={tmp_path / 'dbs'}", "data.bird.kind=none"]
    pinned = raw_data_version(load_settings("demo", [*hub, "data.spider.hub_revision=abc123"]))
    assert pinned != raw_data_version(load_settings("demo", [*hub, "data.spider.hub_revision=def456"]))
    assert pinned != raw_data_version(load_settings("demo", [*hub, "data.spider.hub_revision=abc123", "data.spider.hub_id=me/spider"]))
    tables.write_text('[{"db_id": "x"}]')
    assert pinned != raw_data_version(load_settings("demo", [*hub, "data.spider.hub_revision=abc123"]))


def test_a_missing_local_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        raw_data_version(load_settings("demo", _local(tmp_path / "absent")))
