"""Spider hardness: per-rule cases, then agreement with the official levels on Spider dev."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from t2sql_pipeline.core.sql.hardness import (
    SPIDER_HARDNESS_LEVELS,
    HardnessError,
    SpiderComponents,
    level_from_components,
    spider_components,
    spider_hardness,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "spider_dev_hardness.tsv"

# (sql, (component1, component2, others), level). Every case but the last block
# was checked against the official parser + eval_hardness on a matching schema.
CASES: list[tuple[str, tuple[int, int, int], str]] = [
    # plain clauses: WHERE / GROUP BY / ORDER BY / LIMIT count 1 each, HAVING none
    ("SELECT count(*) FROM singer", (0, 0, 0), "easy"),
    ("SELECT name FROM singer WHERE age > 20", (1, 0, 0), "easy"),
    ("SELECT name FROM singer ORDER BY age DESC LIMIT 1", (2, 0, 0), "medium"),
    ("SELECT country FROM singer GROUP BY country ORDER BY count(*) DESC LIMIT 1", (3, 0, 0), "hard"),
    # more than one selected column / WHERE unit / GROUP BY column / aggregate
    ("SELECT name, age FROM singer", (0, 0, 1), "medium"),
    ("SELECT count(*), max(age) FROM singer", (0, 0, 2), "medium"),
    ("SELECT name FROM singer WHERE age > 20 AND country = 'France'", (1, 0, 1), "medium"),
    ("SELECT country, name FROM singer GROUP BY country, name", (1, 0, 2), "medium"),
    ("SELECT country, count(*) FROM singer GROUP BY country", (1, 0, 1), "medium"),
    # BETWEEN is one unit; its AND is no connector
    ("SELECT name FROM stadium WHERE capacity BETWEEN 5000 AND 10000", (1, 0, 0), "easy"),
    ("SELECT name FROM stadium WHERE capacity >= 5000 AND capacity <= 10000", (1, 0, 1), "medium"),
    # count(DISTINCT x) is one aggregate
    ("SELECT count(DISTINCT country) FROM singer", (0, 0, 0), "easy"),
    # OR and LIKE count in component 1 ("..." is a string value, as in the official tokenizer)
    ('SELECT name FROM singer WHERE country = "France" OR country = "Spain"', (2, 0, 1), "medium"),
    ("SELECT name FROM singer WHERE name LIKE '%a%'", (2, 0, 0), "medium"),
    # quirk: a WHERE unit's NOT counts as an aggregate (count(*) + NOT = 2 > 1)
    ("SELECT count(*) FROM singer WHERE name LIKE '%a%'", (2, 0, 0), "medium"),
    ("SELECT count(*) FROM singer WHERE name NOT LIKE '%a%'", (2, 0, 1), "medium"),
    # joins: one per extra table unit, so a lone join is still easy
    ("SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id", (1, 0, 0), "easy"),
    (
        (
            "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id"
            " JOIN concert AS T3 ON T2.concert_id = T3.concert_id WHERE T3.year = 2014"
        ),
        (3, 0, 0),
        "hard",
    ),
    (
        ("SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id WHERE T2.year = 2014 OR T2.year = 2015"),
        (3, 0, 1),
        "hard",
    ),
    # quirk: after a column-valued unit the official parser skips to the next AND
    (
        "SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id OR T1.capacity = T2.year",
        (1, 0, 0),
        "easy",
    ),
    (
        "SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 WHERE T1.capacity > T2.year OR T2.year = 2015",
        (2, 0, 0),
        "medium",
    ),
    # nested queries: subqueries used as values and set operations (one per SELECT)
    ("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)", (1, 1, 0), "hard"),
    ("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", (1, 1, 0), "hard"),
    ("SELECT count(*) FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", (1, 1, 1), "extra"),
    ("SELECT name FROM singer INTERSECT SELECT name FROM singer", (0, 1, 0), "hard"),
    ("SELECT country FROM singer WHERE age > 40 EXCEPT SELECT country FROM singer WHERE age < 30", (1, 1, 0), "hard"),
    ("SELECT name FROM singer UNION SELECT name FROM stadium UNION SELECT theme FROM concert", (0, 1, 0), "hard"),
    # ORDER BY / LIMIT after a set operation belong to its last SELECT, not the first
    ("SELECT name FROM singer UNION SELECT name FROM stadium ORDER BY name LIMIT 3", (0, 1, 0), "hard"),
    (
        "SELECT name FROM singer WHERE age BETWEEN (SELECT min(age) FROM singer) AND (SELECT avg(age) FROM singer)",
        (1, 2, 0),
        "extra",
    ),
    (
        (
            "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert"
            " WHERE concert_id IN (SELECT concert_id FROM concert WHERE year = 2014))"
        ),
        (1, 1, 0),
        "hard",
    ),
    # a subquery in FROM is a table unit, not a nested query
    ("SELECT count(*) FROM (SELECT stadium_id FROM concert)", (0, 0, 0), "easy"),
    # quirk: HAVING's aggregates do not count, its NOTs and AND/ORs do
    ("SELECT country FROM singer GROUP BY country HAVING count(*) > 1", (1, 0, 0), "easy"),
    ("SELECT country, count(*) FROM singer GROUP BY country HAVING count(*) > 1", (1, 0, 1), "medium"),
    (
        "SELECT country, count(*) FROM singer GROUP BY country HAVING count(*) > 1 AND avg(age) > 30",
        (1, 0, 2),
        "medium",
    ),
    # ORDER BY items are val_units: both operands' aggregates count
    ("SELECT country FROM singer GROUP BY country ORDER BY max(age) - min(age) DESC LIMIT 1", (3, 0, 1), "hard"),
    # the thresholds are not monotonic: (2, 0, 2) is extra, (2, 0, 3) hard
    ("SELECT name, age FROM singer WHERE age > 20 AND country = 'France' ORDER BY age", (2, 0, 2), "extra"),
    (
        "SELECT country, count(*), max(age) FROM singer WHERE age > 20 AND name != 'x' GROUP BY country",
        (2, 0, 3),
        "hard",
    ),
    # outside the official grammar (its parser rejects these): nearest analogue
    ("SELECT name FROM singer WHERE age > 20 AND (country = 'France' OR country = 'Spain')", (2, 0, 1), "medium"),
    (
        "SELECT name FROM singer AS s WHERE EXISTS (SELECT 1 FROM singer_in_concert AS c WHERE c.singer_id = s.singer_id)",
        (1, 1, 0),
        "hard",
    ),
    ("SELECT name FROM singer WHERE country IS NOT NULL", (1, 0, 0), "easy"),
]


@pytest.mark.parametrize(("sql", "components", "level"), CASES, ids=[c[0][:60] for c in CASES])
def test_components_and_level(sql: str, components: tuple[int, int, int], level: str) -> None:
    assert spider_components(sql) == SpiderComponents(*components)
    assert spider_hardness(sql) == level


@pytest.mark.parametrize(
    ("components", "level"),
    [
        ((0, 0, 0), "easy"),
        ((1, 0, 0), "easy"),
        ((2, 0, 0), "medium"),
        ((1, 0, 2), "medium"),
        ((2, 0, 1), "medium"),
        ((1, 0, 3), "hard"),
        ((3, 0, 2), "hard"),
        ((2, 0, 2), "extra"),
        ((4, 0, 0), "extra"),
        ((0, 1, 0), "hard"),
        ((1, 1, 0), "hard"),
        ((2, 1, 0), "extra"),
        ((0, 1, 1), "extra"),
        ((0, 2, 0), "extra"),
    ],
)
def test_level_thresholds(components: tuple[int, int, int], level: str) -> None:
    assert level_from_components(SpiderComponents(*components)) == level


@pytest.mark.parametrize("sql", ["", "SELEC name FROM singer", "DROP TABLE singer", "SELECT 1; SELECT 2"])
def test_unclassifiable_sql_raises_naming_it(sql: str) -> None:
    with pytest.raises(HardnessError, match="SQL|query|SELECT") as info:
        spider_hardness(sql)
    assert repr(sql) in str(info.value)


def _shared_data() -> Path:
    return Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _read_fixture() -> list[tuple[int, str, str]]:
    rows = []
    for line in FIXTURE.read_text().splitlines():
        if line.startswith(("#", "index\t")):
            continue
        index, db_id, level = line.split("\t")
        rows.append((int(index), db_id, level))
    return rows


def test_agrees_with_official_levels_on_spider_dev() -> None:
    gold_path = _shared_data() / "spider-dev" / "dev_gold.sql"
    if not gold_path.is_file():
        pytest.skip(f"Spider dev gold SQL not found at {gold_path} (set T2SQL_SHARED_DATA)")
    gold = [line.split("\t") for line in gold_path.read_text().splitlines() if line.strip()]
    expected = _read_fixture()
    assert [(i, db) for i, db, _ in expected] == [(i, db) for i, (_, db) in enumerate(gold)]

    disagreements = []
    for (index, _, official), (sql, _) in zip(expected, gold, strict=True):
        ours = spider_hardness(sql)
        assert ours in SPIDER_HARDNESS_LEVELS
        if ours != official:
            disagreements.append(f"#{index}: official={official} ours={ours} {spider_components(sql)}\n    {sql}")
    assert not disagreements, f"{len(disagreements)}/{len(gold)} differ:\n" + "\n".join(disagreements)
