"""Spider / BIRD loaders: one example schema, exclusions listed with reasons, format errors that name file and entry."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.sources import load_source
from t2sql_pipeline.core.data.sources.bird import load_bird_local
from t2sql_pipeline.core.data.sources.examples import Example, SourceFormatError, to_records
from t2sql_pipeline.core.data.sources.spider import load_spider_local
from t2sql_pipeline.core.data.sources.synthetic import write_synthetic_bird, write_synthetic_spider
from t2sql_pipeline.core.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DBS = ["shop", "school", "flights"]
SPIDER_HARDNESS = {"easy", "medium", "hard", "extra"}
TABLE_OF = {"shop": "customers", "school": "students", "flights": "airlines"}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("synthetic")
    spider = write_synthetic_spider(base / "spider", DBS, 20, 30, seed=5)
    bird = write_synthetic_bird(base / "bird", DBS, 20, 20, seed=5)
    return spider, bird


@pytest.fixture
def spider_root(synthetic: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy that a test may damage."""
    return Path(shutil.copytree(synthetic[0], tmp_path / "spider"))


@pytest.fixture
def bird_root(synthetic: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic[1], tmp_path / "bird"))


def read(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, records: list[dict]) -> None:
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")


# --- loading the synthetic release -------------------------------------------


def test_spider_loads_every_synthetic_example(spider_root: Path) -> None:
    train, dev = read(spider_root / "train_spider.json"), read(spider_root / "dev.json")
    result = load_spider_local(spider_root, ["train", "dev"])
    assert result.excluded == []
    assert len(result.examples) == len(train) + len(dev)
    first = result.examples[0]
    assert isinstance(first, Example)
    assert (first.source, first.split, first.example_id) == ("spider", "train", "spider/train_spider/0")
    assert (first.question, first.gold_sql, first.db_id) == (train[0]["question"], train[0]["query"], train[0]["db_id"])
    assert first.evidence == ""
    assert Path(first.db_path).is_file()
    assert "CREATE TABLE" in first.schema
    assert {e.difficulty for e in result.examples} <= SPIDER_HARDNESS
    assert Counter(e.split for e in result.examples) == {"train": len(train), "dev": len(dev)}
    assert len({e.example_id for e in result.examples}) == len(result.examples)


def test_spider_loads_only_the_requested_split(spider_root: Path) -> None:
    result = load_spider_local(spider_root, ["dev"])
    assert {e.split for e in result.examples} == {"dev"}
    assert len(result.examples) == len(read(spider_root / "dev.json"))


def test_spider_train_includes_train_others_when_present(spider_root: Path) -> None:
    extra = read(spider_root / "dev.json")[:3]
    write(spider_root / "train_others.json", extra)
    result = load_spider_local(spider_root, ["train"])
    others = [e for e in result.examples if e.example_id.startswith("spider/train_others/")]
    assert [e.question for e in others] == [r["question"] for r in extra]
    assert {e.split for e in others} == {"train"}


def test_bird_loads_every_synthetic_example(bird_root: Path) -> None:
    result = load_bird_local(bird_root, ["train", "dev"])
    assert result.excluded == []
    train = read(bird_root / "train" / "train.json")
    assert len(result.examples) == len(train) + len(read(bird_root / "dev" / "dev.json"))
    first = result.examples[0]
    assert (first.source, first.split, first.example_id) == ("bird", "train", "bird/train/0")
    assert (first.evidence, first.gold_sql, first.difficulty) == (train[0]["evidence"], train[0]["SQL"], train[0]["difficulty"])
    assert Path(first.db_path).is_file() and "train_databases" in first.db_path
    assert {e.difficulty for e in result.examples} == {"simple", "moderate", "challenging"}
    assert all(e.evidence for e in result.examples)


def test_bird_split_files_directly_in_root(bird_root: Path, tmp_path: Path) -> None:
    # The unpacked dev release: dev.json, dev_tables.json and dev_databases/ at the top.
    flat = tmp_path / "flat"
    shutil.copytree(bird_root / "dev", flat)
    result = load_bird_local(flat, ["dev"])
    assert len(result.examples) == len(read(flat / "dev.json")) and result.excluded == []


def test_bird_missing_split_names_both_candidates(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError) as error:
        load_bird_local(tmp_path, ["dev"])
    assert str(tmp_path / "dev" / "dev.json") in str(error.value)


@pytest.mark.parametrize("loader", [load_spider_local, load_bird_local])
def test_unknown_split_is_an_error(loader, spider_root: Path) -> None:
    with pytest.raises(SourceFormatError, match="validation"):
        loader(spider_root, ["validation"])


def test_records_round_trip(spider_root: Path) -> None:
    result = load_spider_local(spider_root, ["dev"])
    records = to_records(result.examples)
    assert [Example(**r) for r in records] == result.examples
    json.dumps(records)  # plain data


# --- exclusions: listed with a reason, never silent, never a crash ----------------


def test_spider_missing_database_is_excluded_and_listed(spider_root: Path) -> None:
    shutil.rmtree(spider_root / "database" / "school")
    records = read(spider_root / "train_spider.json") + read(spider_root / "dev.json")
    result = load_spider_local(spider_root, ["train", "dev"])
    school = sum(1 for r in records if r["db_id"] == "school")
    assert len(result.examples) + len(result.excluded) == len(records)
    assert result.excluded_counts() == {"missing_database": school}
    assert {item.db_id for item in result.excluded} == {"school"}
    assert all("school.sqlite" in item.detail for item in result.excluded)
    assert "school" not in {e.db_id for e in result.examples}


def test_spider_failing_gold_is_excluded_with_the_error(spider_root: Path) -> None:
    path = spider_root / "dev.json"
    records = read(path)
    records[2]["query"] = "SELECT no_such_column FROM " + TABLE_OF[records[2]["db_id"]]
    write(path, records)
    result = load_spider_local(spider_root, ["dev"])
    assert len(result.examples) == len(records) - 1
    assert len(result.excluded) == 1
    item = result.excluded[0]
    assert (item.example_id, item.reason, item.db_id) == ("spider/dev/2", "gold_sql_fails", records[2]["db_id"])
    assert "no_such_column" in item.detail
    assert "spider/dev/2" not in {e.example_id for e in result.examples}


def test_gold_check_can_be_skipped(spider_root: Path) -> None:
    path = spider_root / "dev.json"
    records = read(path)
    records[0]["query"] = "SELECT missing FROM " + TABLE_OF[records[0]["db_id"]]
    write(path, records)
    assert len(load_spider_local(spider_root, ["dev"], check_gold=False).examples) == len(records)


def test_bird_missing_database_and_failing_gold(bird_root: Path) -> None:
    shutil.rmtree(bird_root / "dev" / "dev_databases" / "flights")
    path = bird_root / "train" / "train.json"
    records = read(path)
    records[0]["SQL"] = "SELECT * FROM no_such_table"
    write(path, records)
    dev = read(bird_root / "dev" / "dev.json")
    result = load_bird_local(bird_root, ["train", "dev"])
    flights_dev = sum(1 for r in dev if r["db_id"] == "flights")
    assert result.excluded_counts() == {"missing_database": flights_dev, "gold_sql_fails": 1}
    failing = [item for item in result.excluded if item.reason == "gold_sql_fails"]
    assert failing[0].example_id == "bird/train/0" and "no_such_table" in failing[0].detail
    assert len(result.examples) + len(result.excluded) == len(records) + len(dev)


def test_bird_gold_with_a_syntax_error_is_excluded(bird_root: Path) -> None:
    path = bird_root / "dev" / "dev.json"
    records = read(path)
    records[1]["SQL"] = "SELEC name FROM customers"
    write(path, records)
    result = load_bird_local(bird_root, ["dev"])
    assert [(item.example_id, item.reason) for item in result.excluded] == [("bird/dev/1", "gold_sql_fails")]
    assert len(result.examples) == len(records) - 1


def test_bird_writing_gold_query_is_excluded_not_run(bird_root: Path) -> None:
    path = bird_root / "dev" / "dev.json"
    records = read(path)
    db_id = records[0]["db_id"]
    records[0]["SQL"] = f"DELETE FROM {TABLE_OF[db_id]}"
    write(path, records)
    db_file = bird_root / "dev" / "dev_databases" / db_id / f"{db_id}.sqlite"
    before = db_file.read_bytes()
    result = load_bird_local(bird_root, ["dev"])
    assert [(item.example_id, item.reason) for item in result.excluded] == [("bird/dev/0", "gold_sql_fails")]
    assert db_file.read_bytes() == before


@pytest.mark.parametrize("bad_sql", ["SELEC name FROM {table}", "SELECT * FROM {table} WHERE", "DELETE FROM {table}"])
def test_spider_gold_that_cannot_parse_is_excluded_not_fatal(spider_root: Path, bad_sql: str) -> None:
    path = spider_root / "dev.json"
    records = read(path)
    db_id = records[0]["db_id"]
    records[0]["query"] = bad_sql.format(table=TABLE_OF[db_id])
    write(path, records)
    db_file = spider_root / "database" / db_id / f"{db_id}.sqlite"
    before = db_file.read_bytes()
    result = load_spider_local(spider_root, ["dev"])
    assert [(item.example_id, item.reason) for item in result.excluded] == [("spider/dev/0", "gold_sql_fails")]
    assert len(result.examples) == len(records) - 1
    assert db_file.read_bytes() == before


# --- format errors name the file and the entry ----------------------------------------


def test_bad_json_names_file_and_line(spider_root: Path) -> None:
    path = spider_root / "dev.json"
    path.write_text('[\n {"db_id": "shop",\n  "question": "q"\n  "query": "SELECT 1"}\n]\n', encoding="utf-8")
    with pytest.raises(SourceFormatError) as error:
        load_spider_local(spider_root, ["dev"])
    message = str(error.value)
    assert str(path) in message
    assert "line 4" in message


def test_bad_tables_json_names_it(bird_root: Path) -> None:
    path = bird_root / "dev" / "dev_tables.json"
    path.write_text("[{]", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="dev_tables.json.*line 1"):
        load_bird_local(bird_root, ["dev"])


def test_json_that_is_not_a_list(spider_root: Path) -> None:
    path = spider_root / "dev.json"
    path.write_text('{"db_id": "shop"}', encoding="utf-8")
    with pytest.raises(SourceFormatError, match="list"):
        load_spider_local(spider_root, ["dev"])


@pytest.mark.parametrize("field", ["question", "query", "db_id"])
def test_spider_record_missing_a_field_names_file_and_index(spider_root: Path, field: str) -> None:
    path = spider_root / "dev.json"
    records = read(path)
    del records[3][field]
    write(path, records)
    with pytest.raises(SourceFormatError) as error:
        load_spider_local(spider_root, ["dev"])
    message = str(error.value)
    assert str(path) in message and "entry 3" in message and repr(field) in message


@pytest.mark.parametrize("field", ["question", "SQL"])
def test_bird_record_missing_a_field_names_file_and_index(bird_root: Path, field: str) -> None:
    path = bird_root / "train" / "train.json"
    records = read(path)
    records[5][field] = None
    write(path, records)
    with pytest.raises(SourceFormatError) as error:
        load_bird_local(bird_root, ["train"])
    assert str(path) in str(error.value) and "entry 5" in str(error.value) and repr(field) in str(error.value)


def test_spider_db_id_absent_from_tables_json_excludes_its_questions_only(spider_root: Path) -> None:
    path = spider_root / "dev.json"
    records = read(path)
    records[1]["db_id"] = "warehouse_9"
    write(path, records)
    loaded = load_spider_local(spider_root, ["dev"])
    (excluded,) = [e for e in loaded.excluded if e.reason == "missing_schema"]
    assert (excluded.example_id, excluded.db_id) == ("spider/dev/1", "warehouse_9")
    assert str(spider_root / "tables.json") in excluded.detail
    assert len(loaded.examples) + len(loaded.excluded) == len(records)


def test_bird_db_id_absent_from_tables_json_excludes_its_questions_only(bird_root: Path) -> None:
    path = bird_root / "dev" / "dev_tables.json"
    write(path, [t for t in read(path) if t["db_id"] != "school"])
    loaded = load_bird_local(bird_root, ["dev"])
    missing = [e for e in loaded.excluded if e.reason == "missing_schema"]
    assert missing and {e.db_id for e in missing} == {"school"}
    assert loaded.examples and all(e.db_id != "school" for e in loaded.examples)


def test_a_corrupt_database_file_is_unreadable_not_failing_gold(spider_root: Path) -> None:
    records = read(spider_root / "dev.json")
    db_id = records[0]["db_id"]
    (spider_root / "database" / db_id / f"{db_id}.sqlite").write_bytes(b"this is not a database" * 100)
    loaded = load_spider_local(spider_root, ["dev"])
    unreadable = [e for e in loaded.excluded if e.db_id == db_id]
    assert unreadable and {e.reason for e in unreadable} == {"database_unreadable"}
    assert "file is not a database" in unreadable[0].detail


def test_malformed_tables_entry_names_the_database(spider_root: Path) -> None:
    path = spider_root / "tables.json"
    tables = read(path)
    del tables[1]["column_types"]
    write(path, tables)
    with pytest.raises(SourceFormatError) as error:
        load_spider_local(spider_root, ["dev"])
    assert str(path) in str(error.value) and tables[1]["db_id"] in str(error.value)


def test_missing_required_file_is_an_error(spider_root: Path) -> None:
    (spider_root / "train_spider.json").unlink()
    with pytest.raises(SourceFormatError, match="train_spider.json"):
        load_spider_local(spider_root, ["train"])


# --- load_source as configured ----------------------------------------------------


def test_load_source_from_settings(tmp_path: Path) -> None:
    settings = load_settings(
        "demo",
        overrides=[
            "data.synthetic.databases=[shop, school, flights]",
            "data.synthetic.rows_per_table=10",
            "data.synthetic.spider_questions_per_database=10",
            "data.synthetic.bird_questions_per_database=5",
            "data.bird.kind=none",
        ],
    )
    spider = load_source("spider", settings.data, tmp_path, seed=1)
    assert len(spider.examples) == 30 and spider.excluded == []
    assert load_source("bird", settings.data, tmp_path, seed=1).examples == []


def test_load_source_local_path_must_exist(tmp_path: Path) -> None:
    settings = load_settings(None, overrides=["data.spider.kind=local", f"data.spider.path={tmp_path / 'absent'}"])
    with pytest.raises(SourceFormatError, match="data.spider.path"):
        load_source("spider", settings.data, tmp_path, seed=1)


# --- the real releases (skipped when ../shared/data is absent) ------------------------


def test_real_spider_dev() -> None:
    root = SHARED_DATA / "spider-dev"
    if not (root / "dev.json").is_file():
        pytest.skip(f"Spider dev not found at {root} (set T2SQL_SHARED_DATA)")
    result = load_spider_local(root, ["dev"])
    assert len(result.examples) == 972
    assert result.excluded_counts() == {"missing_database": 62}
    assert {item.db_id for item in result.excluded} == {"wta_1"}
    assert {e.difficulty for e in result.examples} == SPIDER_HARDNESS
    assert len({e.db_id for e in result.examples}) == 19


def test_real_bird_dev_without_databases_excludes_everything_with_a_reason() -> None:
    root = SHARED_DATA / "bird-dev"
    if not (root / "dev.json").is_file():
        pytest.skip(f"BIRD dev not found at {root} (set T2SQL_SHARED_DATA)")
    if (root / "dev_databases").is_dir():
        pytest.skip("this copy has the BIRD dev databases")
    result = load_bird_local(root, ["dev"], check_gold=False)
    assert result.examples == []
    assert result.excluded_counts() == {"missing_database": 1534}


# --- hub sources (no hub is reachable here: load_dataset is replaced by a local Dataset) ----


def hub_rows(root: Path, source: str, split_file: str) -> list[dict]:
    """Rows with the hub copies' column names, made from a synthetic release file."""
    records = read(root / split_file)
    if source == "spider":  # xlangai/spider: db_id, query, question (+ token lists we ignore)
        return [{"db_id": r["db_id"], "query": r["query"], "question": r["question"], "query_toks": r["query"].split()} for r in records]
    # birdsql/bird23-train-filtered: db_id, question, evidence, SQL, difficulty
    return [{k: r[k] for k in ("db_id", "question", "evidence", "SQL", "difficulty")} for r in records]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> dict:
    import datasets

    calls: dict = {"splits": {}}

    def load_dataset(path: str, revision: str | None = None, **kwargs: object) -> datasets.DatasetDict:
        calls["args"] = (path, revision)
        return datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in calls["splits"].items()})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def hub_settings(source: str, tables: Path, databases: Path, *extra: str):
    return load_settings(
        None,
        overrides=[f"data.{source}.kind=hub", f"data.{source}.tables_path={tables}", f"data.{source}.databases_path={databases}", *extra],
    )


def test_spider_hub_uses_the_real_loading_path(fake_hub: dict, spider_root: Path, tmp_path: Path) -> None:
    fake_hub["splits"] = {"train": hub_rows(spider_root, "spider", "train_spider.json"), "validation": hub_rows(spider_root, "spider", "dev.json")}
    settings = hub_settings(
        "spider", spider_root / "tables.json", spider_root / "database", "data.spider.splits=[train, dev]", "data.spider.hub_revision=abc123"
    )
    result = load_source("spider", settings.data, tmp_path, seed=0)
    assert fake_hub["args"] == ("xlangai/spider", "abc123")
    local = load_spider_local(spider_root, ["train", "dev"])
    assert [(e.split, e.question, e.gold_sql, e.difficulty, e.schema) for e in result.examples] == [
        (e.split, e.question, e.gold_sql, e.difficulty, e.schema) for e in local.examples
    ]
    assert Counter(e.split for e in result.examples) == {"train": len(fake_hub["splits"]["train"]), "dev": len(fake_hub["splits"]["validation"])}
    assert all(Path(e.db_path).is_file() for e in result.examples)


def test_bird_hub_keeps_evidence_and_difficulty(fake_hub: dict, bird_root: Path, tmp_path: Path) -> None:
    fake_hub["splits"] = {"train": hub_rows(bird_root, "bird", "train/train.json")}
    settings = hub_settings("bird", bird_root / "train" / "train_tables.json", bird_root / "train" / "train_databases", "data.bird.hub_id=me/bird-copy")
    result = load_source("bird", settings.data, tmp_path, seed=0)
    assert fake_hub["args"] == ("me/bird-copy", None)
    records = read(bird_root / "train" / "train.json")
    assert [(e.question, e.evidence, e.gold_sql, e.difficulty) for e in result.examples] == [
        (r["question"], r["evidence"], r["SQL"], r["difficulty"]) for r in records
    ]
    assert result.excluded == []


def test_hub_database_absent_from_the_folder_is_excluded_and_named(fake_hub: dict, bird_root: Path, tmp_path: Path) -> None:
    fake_hub["splits"] = {"train": hub_rows(bird_root, "bird", "train/train.json")}
    databases = bird_root / "train" / "train_databases"
    shutil.rmtree(databases / "shop")
    result = load_source("bird", hub_settings("bird", bird_root / "train" / "train_tables.json", databases).data, tmp_path, seed=0)
    assert {item.db_id for item in result.excluded} == {"shop"} and result.excluded_counts() == {"missing_database": len(result.excluded)}
    assert str(databases / "shop" / "shop.sqlite") in result.excluded[0].detail


def test_hub_missing_tables_or_databases_say_what_is_missing(fake_hub: dict, spider_root: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=r"tables_path: .*absent.json not found; the hub copy xlangai/spider has no schemas"):
        load_source("spider", hub_settings("spider", tmp_path / "absent.json", spider_root / "database").data, tmp_path, seed=0)
    with pytest.raises(SourceFormatError, match=r"databases_path: .*nowhere is not a directory; .*has no databases"):
        load_source("spider", hub_settings("spider", spider_root / "tables.json", tmp_path / "nowhere").data, tmp_path, seed=0)


def test_hub_split_or_column_missing_is_named(fake_hub: dict, spider_root: Path, tmp_path: Path) -> None:
    settings = hub_settings("spider", spider_root / "tables.json", spider_root / "database", "data.spider.splits=[dev]")
    fake_hub["splits"] = {"train": hub_rows(spider_root, "spider", "train_spider.json")}
    with pytest.raises(SourceFormatError, match=r"xlangai/spider has no 'dev' split \(looked for \['dev', 'validation'\]"):
        load_source("spider", settings.data, tmp_path, seed=0)
    fake_hub["splits"] = {"validation": [{"db_id": "shop", "question": "q"}]}
    with pytest.raises(SourceFormatError, match=r"split 'validation': missing columns \['query'\]"):
        load_source("spider", settings.data, tmp_path, seed=0)


def test_hub_source_needs_tables_and_databases_paths() -> None:
    with pytest.raises(ValueError, match="'hub' source needs 'tables_path' and 'databases_path'"):
        load_settings(None, overrides=["data.bird.kind=hub", "data.bird.tables_path=t.json"])


def test_relative_data_paths_resolve_against_the_checkout_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    settings = load_settings(None, overrides=["data.spider.kind=local", "data.spider.path=no/such/folder"])
    with pytest.raises(SourceFormatError, match=f"{REPO_ROOT / 'no' / 'such' / 'folder'} is not a directory"):
        load_source("spider", settings.data, tmp_path, seed=0)


def test_real_bird_dev_questions_only_without_databases() -> None:
    root = SHARED_DATA / "bird-dev"
    if not (root / "dev.json").is_file():
        pytest.skip(f"BIRD dev not found at {root} (set T2SQL_SHARED_DATA)")
    result = load_bird_local(root, ["dev"], require_database=False)
    records = read(root / "dev.json")
    assert len(result.examples) == len(records) == 1534 and result.excluded == []
    assert [e.evidence for e in result.examples] == [r["evidence"] for r in records]
    assert sum(1 for e in result.examples if e.evidence) > 1300  # most BIRD questions carry evidence
    assert {e.difficulty for e in result.examples} == {"simple", "moderate", "challenging"}
    assert len({e.db_id for e in result.examples}) == 11


def test_questions_only_still_checks_gold_where_the_database_exists(spider_root: Path) -> None:
    records = read(spider_root / "dev.json")
    records[0]["query"] = "SELECT nope FROM nowhere"
    write(spider_root / "dev.json", records)
    candidates = load_spider_local(spider_root, ["dev"], check_gold=False).examples
    from t2sql_pipeline.core.data.sources.examples import check_and_collect

    result = check_and_collect(candidates, True, require_database=False)
    assert result.excluded_counts() == {"gold_sql_fails": 1}


@pytest.mark.parametrize(("key", "split", "message"), [("evidence", "dev", "missing field 'evidence'"), ("difficulty", "dev", "missing field 'difficulty'")])
def test_bird_entries_without_evidence_or_dev_difficulty_are_named(bird_root: Path, key: str, split: str, message: str) -> None:
    path = bird_root / split / f"{split}.json"
    records = read(path)
    del records[2][key]
    write(path, records)
    with pytest.raises(SourceFormatError, match=rf"{split}.json: entry 2: {message}"):
        load_bird_local(bird_root, [split])


def test_bird_train_without_difficulty_labels_is_unknown(bird_root: Path) -> None:
    path = bird_root / "train" / "train.json"
    write(path, [{k: v for k, v in r.items() if k != "difficulty"} for r in read(path)])  # as the official train.json
    assert {e.difficulty for e in load_bird_local(bird_root, ["train"]).examples} == {"unknown"}
