"""The seeded synthetic benchmark: official layouts, executable gold SQL, real keys, coverage, determinism."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.sources.synthetic import tables_json_entry, write_synthetic_bird, write_synthetic_spider
from t2sql_pipeline.core.data.sources.synthetic_schemas import DATABASES

DBS = ["shop", "school", "flights"]
ROWS = 30
SPIDER_QUESTIONS = 80
BIRD_QUESTIONS = 40
SEED = 7


@pytest.fixture(scope="module")
def spider_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_spider(tmp_path_factory.mktemp("spider"), DBS, ROWS, SPIDER_QUESTIONS, SEED)


@pytest.fixture(scope="module")
def bird_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_bird(tmp_path_factory.mktemp("bird"), DBS, ROWS, BIRD_QUESTIONS, SEED)


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def spider_records(root: Path) -> list[dict]:
    return load(root / "train_spider.json") + load(root / "dev.json")


def bird_records(root: Path) -> list[tuple[str, dict]]:
    return [(split, record) for split in ("train", "dev") for record in load(root / split / f"{split}.json")]


def bird_db(root: Path, split: str, db_id: str) -> Path:
    return root / split / f"{split}_databases" / db_id / f"{db_id}.sqlite"


def dump(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as connection:
        lines = list(connection.iterdump())
    connection.close()
    return lines


# --- layouts -----------------------------------------------------------------


def test_spider_layout(spider_root: Path) -> None:
    for name in ("train_spider.json", "dev.json", "tables.json"):
        assert (spider_root / name).is_file(), name
    for db_id in DBS:
        assert (spider_root / "database" / db_id / f"{db_id}.sqlite").is_file()
    tables = load(spider_root / "tables.json")
    assert [t["db_id"] for t in tables] == DBS
    for record in spider_records(spider_root):
        assert set(record) >= {"db_id", "question", "query"}
        assert record["db_id"] in DBS


def test_bird_layout(bird_root: Path) -> None:
    for split in ("train", "dev"):
        folder = bird_root / split
        assert (folder / f"{split}.json").is_file()
        assert [t["db_id"] for t in load(folder / f"{split}_tables.json")] == DBS
        for db_id in DBS:
            assert bird_db(bird_root, split, db_id).is_file()
        records = load(folder / f"{split}.json")
        assert records, split
        assert [r["question_id"] for r in records] == list(range(len(records)))
        for record in records:
            assert set(record) >= {"db_id", "question", "evidence", "SQL", "difficulty", "question_id"}


def test_both_splits_get_questions_of_every_database(spider_root: Path, bird_root: Path) -> None:
    for records in (load(spider_root / "train_spider.json"), load(spider_root / "dev.json")):
        assert {r["db_id"] for r in records} == set(DBS)
    for split in ("train", "dev"):
        assert {r["db_id"] for r in load(bird_root / split / f"{split}.json")} == set(DBS)
    # Most data goes to training.
    assert len(load(spider_root / "train_spider.json")) > 3 * len(load(spider_root / "dev.json"))


# --- databases ----------------------------------------------------------------


@pytest.mark.parametrize("db_id", DBS)
def test_tables_have_foreign_keys_rows_and_integrity(spider_root: Path, db_id: str) -> None:
    path = spider_root / "database" / db_id / f"{db_id}.sqlite"
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        assert sorted(tables) == sorted(t.name for t in DATABASES[db_id])
        foreign = {t: connection.execute(f"PRAGMA foreign_key_list({t})").fetchall() for t in tables}
        assert sum(len(keys) for keys in foreign.values()) >= 2
        for table in tables:
            count = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert ROWS / 4 <= count <= 2 * ROWS, (table, count)
        # Every foreign key value points at an existing row.
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    connection.close()


def test_more_rows_when_asked(tmp_path: Path) -> None:
    small = write_synthetic_spider(tmp_path / "small", ["shop"], 20, 5, SEED)
    large = write_synthetic_spider(tmp_path / "large", ["shop"], 60, 5, SEED)

    def total(root: Path) -> int:
        with sqlite3.connect(root / "database" / "shop" / "shop.sqlite") as connection:
            result = sum(connection.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in DATABASES["shop"])
        connection.close()
        return result

    assert total(large) == pytest.approx(3 * total(small), rel=0.1)


@pytest.mark.parametrize("db_id", DBS)
def test_tables_json_matches_the_database(spider_root: Path, db_id: str) -> None:
    entry = tables_json_entry(db_id)
    path = spider_root / "database" / db_id / f"{db_id}.sqlite"
    with sqlite3.connect(path) as connection:
        for table_index, table in enumerate(entry["table_names_original"]):
            declared = [name for index, name in entry["column_names_original"] if index == table_index]
            actual = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            assert declared == actual
        fk_rows = sum(len(connection.execute(f"PRAGMA foreign_key_list({t})").fetchall()) for t in entry["table_names_original"])
    connection.close()
    assert len(entry["foreign_keys"]) == fk_rows
    assert len(entry["primary_keys"]) == len(entry["table_names_original"])
    assert len(entry["column_types"]) == len(entry["column_names_original"])


def test_bird_train_and_dev_copies_hold_the_same_rows(bird_root: Path) -> None:
    for db_id in DBS:
        assert dump(bird_db(bird_root, "train", db_id)) == dump(bird_db(bird_root, "dev", db_id))


# --- questions and gold SQL ---------------------------------------------------


def test_every_spider_gold_sql_executes(spider_root: Path) -> None:
    records = spider_records(spider_root)
    assert len(records) >= 0.9 * SPIDER_QUESTIONS * len(DBS)
    for db_id in DBS:
        with sqlite3.connect(spider_root / "database" / db_id / f"{db_id}.sqlite") as connection:
            for record in (r for r in records if r["db_id"] == db_id):
                connection.execute(record["query"]).fetchall()
        connection.close()


def test_every_bird_gold_sql_executes(bird_root: Path) -> None:
    for split, record in bird_records(bird_root):
        with sqlite3.connect(bird_db(bird_root, split, record["db_id"])) as connection:
            connection.execute(record["SQL"]).fetchall()
        connection.close()


def test_most_gold_queries_return_rows(spider_root: Path) -> None:
    # A benchmark of empty answers would reward a model that returns nothing.
    records = spider_records(spider_root)
    nonempty = 0
    for db_id in DBS:
        with sqlite3.connect(spider_root / "database" / db_id / f"{db_id}.sqlite") as connection:
            for record in (r for r in records if r["db_id"] == db_id):
                rows = connection.execute(record["query"]).fetchall()
                nonempty += bool(rows) and rows != [(0,)] and rows != [(None,)]
        connection.close()
    assert nonempty >= 0.7 * len(records)


def test_questions_unique_per_database(spider_root: Path, bird_root: Path) -> None:
    spider = Counter((r["db_id"], r["question"]) for r in spider_records(spider_root))
    assert max(spider.values()) == 1
    bird = Counter((r["db_id"], r["question"]) for _, r in bird_records(bird_root))
    assert max(bird.values()) == 1


def test_questions_per_database_as_requested(spider_root: Path) -> None:
    per_db = Counter(r["db_id"] for r in spider_records(spider_root))
    assert all(count == SPIDER_QUESTIONS for count in per_db.values()), per_db


def test_questions_never_ask_with_template_holes(spider_root: Path, bird_root: Path) -> None:
    questions = [r["question"] for r in spider_records(spider_root)] + [r["question"] for _, r in bird_records(bird_root)]
    for question in questions:
        assert "{" not in question and "}" not in question, question
        assert question[-1] in ".?", question


COVERAGE = {
    "counting": r"\bcount\(\*\)",
    "where": r"\bWHERE\b",
    "join": r"\bJOIN\b.*\bON\b",
    "group_by": r"\bGROUP BY\b",
    "having": r"\bHAVING\b",
    "order_by_limit": r"\bORDER BY\b.*\bLIMIT \d+",
    "avg": r"\bavg\(",
    "max": r"\bmax\(",
    "min": r"\bmin\(",
    "sum": r"\bsum\(",
    "distinct": r"\bDISTINCT\b",
}


@pytest.mark.parametrize("feature", COVERAGE)
def test_spider_coverage(spider_root: Path, feature: str) -> None:
    pattern = re.compile(COVERAGE[feature], re.IGNORECASE)
    hits = [r for r in spider_records(spider_root) if pattern.search(r["query"])]
    assert hits, f"no gold SQL with {feature}"
    # Every database gets the basic families, not just one of them.
    if feature in {"counting", "where", "join", "group_by", "order_by_limit"}:
        assert {r["db_id"] for r in hits} == set(DBS)


def test_bird_records_have_evidence_and_difficulty(bird_root: Path) -> None:
    records = [r for _, r in bird_records(bird_root)]
    difficulties = Counter(r["difficulty"] for r in records)
    assert set(difficulties) == {"simple", "moderate", "challenging"}
    for record in records:
        assert record["evidence"].strip(), record
        assert "refers to" in record["evidence"]
    # Challenging questions join tables.
    assert all("JOIN" in r["SQL"] for r in records if r["difficulty"] == "challenging")


def test_bird_splits_do_not_share_questions(bird_root: Path) -> None:
    by_split = defaultdict(set)
    for split, record in bird_records(bird_root):
        by_split[split].add((record["db_id"], record["question"]))
    assert not by_split["train"] & by_split["dev"]


# --- determinism ----------------------------------------------------------------


def test_spider_same_seed_same_output(tmp_path: Path) -> None:
    first = write_synthetic_spider(tmp_path / "a", ["shop", "school"], 20, 30, seed=3)
    second = write_synthetic_spider(tmp_path / "b", ["shop", "school"], 20, 30, seed=3)
    other = write_synthetic_spider(tmp_path / "c", ["shop", "school"], 20, 30, seed=4)
    for name in ("train_spider.json", "dev.json", "tables.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for db_id in ("shop", "school"):
        assert dump(first / "database" / db_id / f"{db_id}.sqlite") == dump(second / "database" / db_id / f"{db_id}.sqlite")
        assert dump(first / "database" / db_id / f"{db_id}.sqlite") != dump(other / "database" / db_id / f"{db_id}.sqlite")
    assert (first / "train_spider.json").read_bytes() != (other / "train_spider.json").read_bytes()


def test_bird_same_seed_same_output(tmp_path: Path) -> None:
    first = write_synthetic_bird(tmp_path / "a", ["flights"], 20, 20, seed=3)
    second = write_synthetic_bird(tmp_path / "b", ["flights"], 20, 20, seed=3)
    other = write_synthetic_bird(tmp_path / "c", ["flights"], 20, 20, seed=4)
    for split in ("train", "dev"):
        assert (first / split / f"{split}.json").read_bytes() == (second / split / f"{split}.json").read_bytes()
    assert (first / "train" / "train.json").read_bytes() != (other / "train" / "train.json").read_bytes()


def test_rewriting_over_an_existing_folder_replaces_it(tmp_path: Path) -> None:
    root = write_synthetic_spider(tmp_path / "s", ["shop"], 20, 10, seed=1)
    before = dump(root / "database" / "shop" / "shop.sqlite")
    write_synthetic_spider(root, ["shop"], 20, 10, seed=1)
    assert dump(root / "database" / "shop" / "shop.sqlite") == before  # not doubled rows, not a crash
