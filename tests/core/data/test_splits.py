"""Splits: no database (by_database) or question (by_question) in two splits; fractions roughly kept."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from t2sql_pipeline.core.data.sources.examples import Example
from t2sql_pipeline.core.data.splits import SPLIT_NAMES, find_leaks, question_key, split_examples


def make_example(index: int, db_id: str, question: str, source: str = "spider") -> Example:
    return Example(
        example_id=f"{source}/train/{index}",
        source=source,  # type: ignore[arg-type]
        split="train",
        db_id=db_id,
        question=question,
        evidence="",
        gold_sql="SELECT 1",
        difficulty="easy",
        db_path="",
        schema="",
    )


def population(databases: int = 20, seed: int = 0) -> list[Example]:
    """Databases of uneven size (10-60 questions), with duplicated questions that differ only in case/spacing."""
    rng = random.Random(seed)
    examples: list[Example] = []
    for d in range(databases):
        for q in range(rng.randint(10, 60)):
            examples.append(make_example(len(examples), f"db{d}", f"How many rows are in table {q}?"))
            if q % 7 == 0:  # the same question again, written differently
                examples.append(make_example(len(examples), f"db{d}", f"  how MANY rows are in   table {q}? "))
    return examples


def ids(examples: list[Example]) -> list[str]:
    return sorted(e.example_id for e in examples)


def assert_partition(splits: dict[str, list[Example]], examples: list[Example]) -> None:
    assert set(splits) == set(SPLIT_NAMES)
    assert ids([e for members in splits.values() for e in members]) == ids(examples)


# --- by_database ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_by_database_never_shares_a_database(seed: int) -> None:
    examples = population(seed=seed)
    splits = split_examples(examples, "by_database", 0.1, 0.2, seed=seed)
    assert_partition(splits, examples)
    databases = {name: {e.db_id for e in members} for name, members in splits.items()}
    assert not databases["train"] & databases["validation"]
    assert not databases["train"] & databases["test"]
    assert not databases["validation"] & databases["test"]
    assert all(databases.values())
    assert find_leaks(splits, by_database=True) == []


def test_by_database_keeps_same_db_id_of_two_sources_apart_as_two_databases() -> None:
    examples = [make_example(i, f"db{i % 4}", f"q{i}", source="spider") for i in range(40)]
    examples += [make_example(100 + i, f"db{i % 4}", f"q{i}", source="bird") for i in range(40)]
    splits = split_examples(examples, "by_database", 0.2, 0.2, seed=0)
    for name, members in splits.items():
        for other in SPLIT_NAMES:
            if other != name:
                assert not {(e.source, e.db_id) for e in members} & {(e.source, e.db_id) for e in splits[other]}


@pytest.mark.parametrize("databases", [1, 2])
def test_by_database_needs_three_databases(databases: int) -> None:
    examples = [make_example(i, f"db{i % databases}", f"q{i}") for i in range(30)]
    with pytest.raises(ValueError, match="at least 3 databases"):
        split_examples(examples, "by_database", 0.1, 0.1, seed=0)


def test_by_database_with_exactly_three_databases_fills_every_split() -> None:
    examples = [make_example(i, f"db{i % 3}", f"q{i}") for i in range(30)]
    splits = split_examples(examples, "by_database", 0.05, 0.05, seed=0)
    assert all(len({e.db_id for e in members}) == 1 for members in splits.values())


@pytest.mark.parametrize(("validation", "test"), [(0.05, 0.1), (0.1, 0.2), (0.2, 0.3)])
def test_by_database_fractions_roughly_respected(validation: float, test: float) -> None:
    examples = population(databases=40, seed=5)
    largest_db = max(Counter(e.db_id for e in examples).values())
    splits = split_examples(examples, "by_database", validation, test, seed=5)
    assert abs(len(splits["test"]) - test * len(examples)) <= largest_db
    assert abs(len(splits["validation"]) - validation * len(examples)) <= largest_db


# --- by_question -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_by_question_never_shares_a_normalized_question(seed: int) -> None:
    examples = population(seed=seed)
    splits = split_examples(examples, "by_question", 0.1, 0.2, seed=seed)
    assert_partition(splits, examples)
    normalized = {name: {(e.db_id, " ".join(e.question.lower().split())) for e in members} for name, members in splits.items()}
    assert not normalized["train"] & normalized["validation"]
    assert not normalized["train"] & normalized["test"]
    assert not normalized["validation"] & normalized["test"]
    assert find_leaks(splits, by_database=False) == []


def test_by_question_keeps_case_and_spacing_duplicates_together() -> None:
    examples = [make_example(i, "db", f"distinct question {i}") for i in range(200)]
    twins = [make_example(1000 + i, "db", f"DISTINCT   question {i}\t") for i in range(0, 200, 5)]
    splits = split_examples(examples + twins, "by_question", 0.1, 0.1, seed=9)
    where = {e.example_id: name for name, members in splits.items() for e in members}
    for twin in twins:
        original = f"spider/train/{int(twin.example_id.rsplit('/', 1)[1]) - 1000}"
        assert where[twin.example_id] == where[original]


def test_by_question_same_question_on_two_databases_is_two_items() -> None:
    examples = [make_example(i, f"db{i % 2}", "How many singers are there?") for i in range(2)]
    examples += [make_example(10 + i, "db0", f"q{i}") for i in range(20)]
    assert question_key(examples[0]) != question_key(examples[1])
    splits = split_examples(examples, "by_question", 0.3, 0.3, seed=0)
    assert_partition(splits, examples)


@pytest.mark.parametrize(("validation", "test"), [(0.05, 0.1), (0.1, 0.2), (0.25, 0.25)])
def test_by_question_fractions_roughly_respected(validation: float, test: float) -> None:
    examples = population(seed=7)
    splits = split_examples(examples, "by_question", validation, test, seed=7)
    n = len(examples)
    assert abs(len(splits["test"]) / n - test) <= 0.01
    assert abs(len(splits["validation"]) / n - validation) <= 0.01
    assert len(splits["train"]) / n == pytest.approx(1 - validation - test, abs=0.02)


def test_splits_are_deterministic_for_a_seed() -> None:
    examples = population(seed=1)
    first = split_examples(examples, "by_question", 0.1, 0.1, seed=4)
    again = split_examples(examples, "by_question", 0.1, 0.1, seed=4)
    other = split_examples(examples, "by_question", 0.1, 0.1, seed=5)
    assert {k: ids(v) for k, v in first.items()} == {k: ids(v) for k, v in again.items()}
    assert ids(first["test"]) != ids(other["test"])


def test_training_is_never_left_empty() -> None:
    examples = [make_example(i, "db", f"q{i}") for i in range(3)]
    splits = split_examples(examples, "by_question", 0.5, 0.45, seed=0)
    assert splits["train"]


def test_question_key_normalizes_case_and_spacing() -> None:
    a = make_example(0, "db", "How many  Singers?")
    b = make_example(1, "db", "  how many singers? ")
    c = make_example(2, "other", "How many singers?")
    assert question_key(a) == question_key(b) != question_key(c)


# --- find_leaks ----------------------------------------------------------------------


def test_find_leaks_detects_a_planted_question_leak() -> None:
    examples = population(seed=2)
    splits = split_examples(examples, "by_question", 0.1, 0.1, seed=2)
    planted = splits["train"][0]
    twin = make_example(99999, planted.db_id, planted.question.upper() + "  ")
    splits["test"].append(twin)
    leaks = find_leaks(splits, by_database=False)
    assert len(leaks) == 1
    assert leaks[0].kind == "question"
    assert leaks[0].key == question_key(planted)
    assert leaks[0].splits == ("test", "train")


def test_find_leaks_detects_a_planted_database_leak() -> None:
    examples = population(seed=3)
    splits = split_examples(examples, "by_database", 0.1, 0.1, seed=3)
    test_db = splits["test"][0].db_id
    splits["train"].append(make_example(99999, test_db, "a question only train has"))
    leaks = find_leaks(splits, by_database=True)
    assert [(leak.kind, leak.key, leak.splits) for leak in leaks] == [("database", f"spider:{test_db}", ("test", "train"))]


def test_find_leaks_ignores_databases_when_splitting_by_question() -> None:
    examples = [make_example(i, "db", f"q{i}") for i in range(30)]
    splits = split_examples(examples, "by_question", 0.1, 0.1, seed=0)
    assert find_leaks(splits, by_database=False) == []
    assert [leak.kind for leak in find_leaks(splits, by_database=True)] == ["database"]


# --- official_dev -------------------------------------------------------------------


def with_split(example: Example, split: str) -> Example:
    from dataclasses import replace

    return replace(example, split=split, example_id=example.example_id.replace("/train/", f"/{split}/"))


def test_official_dev_tests_on_the_released_dev_split() -> None:
    train = population(12, seed=1)
    dev = [with_split(make_example(i, f"dev_db{i % 3}", f"Dev question {i}?"), "dev") for i in range(40)]
    splits = split_examples(train + dev, "official_dev", 0.1, 0.3, seed=0)
    assert_partition(splits, train + dev)
    assert ids(splits["test"]) == ids(dev)  # test_fraction plays no part
    assert abs(len(splits["validation"]) - round(0.1 * len(train))) <= 3
    assert find_leaks(splits, by_database=False) == []


def test_official_dev_keeps_a_train_twin_of_a_dev_question_in_test() -> None:
    train = [make_example(i, "db0", f"Question {i}?") for i in range(30)]
    twin = make_example(99, "db1", "  QUESTION 5? ")
    dev = [with_split(make_example(100, "db1", "Question 5?"), "dev"), with_split(make_example(101, "db1", "Other?"), "dev")]
    splits = split_examples([*train, twin, *dev], "official_dev", 0.1, 0.1, seed=0)
    assert twin in splits["test"] and find_leaks(splits, by_database=False) == []
    assert_partition(splits, [*train, twin, *dev])


@pytest.mark.parametrize("which", ["dev", "train"])
def test_official_dev_needs_dev_and_something_else(which: str) -> None:
    examples = [make_example(i, "db0", f"Q{i}") for i in range(5)]
    if which == "dev":
        examples = [with_split(e, "dev") for e in examples]
    with pytest.raises(ValueError, match="official_dev' needs a loaded 'dev' split"):
        split_examples(examples, "official_dev", 0.1, 0.1, seed=0)


# --- by_database with fixed test databases ------------------------------------------


def test_fixed_test_databases_are_the_whole_test_split_and_validation_comes_from_the_rest() -> None:
    examples = population(seed=4)
    chosen = ["db3", "db11", "db17"]
    for seed in (0, 1):  # the test split does not depend on the seed; validation does
        splits = split_examples(examples, "by_database", 0.1, 0.5, seed=seed, test_databases=chosen)
        assert_partition(splits, examples)
        assert ids(splits["test"]) == ids([e for e in examples if e.db_id in chosen])
        assert {e.db_id for e in splits["validation"]}.isdisjoint(chosen) and splits["validation"]
        assert find_leaks(splits, by_database=True) == []
        assert abs(len(splits["validation"]) - 0.1 * len(examples)) <= 60  # whole databases of at most 60 + twins


def test_a_fixed_test_database_without_examples_is_named() -> None:
    with pytest.raises(ValueError, match=r"splits.test_databases: no loaded examples for \['wta_1'\]"):
        split_examples(population(), "by_database", 0.1, 0.1, seed=0, test_databases=["db1", "wta_1"])
