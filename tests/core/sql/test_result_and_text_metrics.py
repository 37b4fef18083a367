"""Result comparison (Spider test-suite and BIRD semantics), text rewrites and text metrics."""

from __future__ import annotations

import math

import pytest
import sqlparse

from t2sql_pipeline.core.sql import result_match, text_metrics, ves
from t2sql_pipeline.core.sql.result_match import bird_rows_match, spider_prepare, spider_rows_match
from t2sql_pipeline.core.sql.text_metrics import DbSchema

# (gold rows, predicted rows, order matters, expected) under the official semantics.
SPIDER_ROWS = [
    ([], [], False, True),
    ([], [], True, True),
    ([(1,)], [], False, False),
    ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], False, True),  # row order free
    ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True, False),  # ... unless ORDER BY in gold
    ([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], True, True),  # columns may be permuted
    ([(1, 2), (3, 4)], [(2, 1), (4, 3)], False, True),
    ([(1, 2), (3, 4)], [(1, 4), (3, 2)], False, False),  # a column permutation cannot fix this
    ([(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),  # multisets, not sets
    ([(1,), (1,)], [(1,)], False, False),
    ([(1, 2)], [(1, 2, 3)], False, False),  # column count differs
    ([(None, 1)], [(1, None)], False, True),
    ([(1, 1, 2, 3)], [(3, 1, 2, 1)], False, True),  # >3 columns, duplicated values
    ([("x", 1), ("x", 2)], [(1, "x"), (2, "x")], True, True),
    ([(1,)], [(1.0,)], False, True),  # 1 == 1.0 for Python, as officially
    ([(1, 10.0)], [(10, 1.0)], False, False),  # official quick reject: int/float sort by text
    ([(1, "1")], [("1", 1)], False, True),
]


@pytest.mark.parametrize(("gold", "pred", "order_matters", "expected"), SPIDER_ROWS)
def test_spider_rows_match_official_semantics(gold: list[tuple[object, ...]], pred: list[tuple[object, ...]], order_matters: bool, expected: bool) -> None:
    assert spider_rows_match(gold, pred, order_matters=order_matters) is expected


def test_strict_drops_the_type_dependent_quick_reject() -> None:
    assert spider_rows_match([(1, 10.0)], [(10, 1.0)], order_matters=False, strict=True) is True


def test_spider_rows_match_handles_many_interchangeable_columns_quickly() -> None:
    # 12 identical NULL columns: 12! permutations if tried one by one.
    gold = [tuple([None] * 12 + [i]) for i in range(50)]
    pred = [tuple([i] + [None] * 12) for i in range(50)]
    assert spider_rows_match(gold, pred, order_matters=True)


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True),
        ([(1, "a")], [(1, "a"), (1, "a")], True),  # duplicates ignored
        ([(1, "a")], [("a", 1)], False),  # column order counts
        ([], [], True),
        ([(1,)], [], False),
    ],
)
def test_bird_rows_match(gold: list[tuple[object, ...]], pred: list[tuple[object, ...]], expected: bool) -> None:
    assert bird_rows_match(gold, pred) is expected


# (sql, is_gold, prepared text, order matters) with the official quirks on.
PREPARE_CASES = [
    ("SELECT a FROM t WHERE b = value ", False, "SELECT a FROM t WHERE b = 1 ", False),
    ("SELECT a FROM t WHERE b = value ", True, "SELECT a FROM t WHERE b = value ", False),
    ("SELECT a FROM t WHERE b > = 3", False, "SELECT a FROM t WHERE b >= 3", False),
    ("SELECT DISTINCT a FROM t", True, "SELECT  a FROM t", False),
    ("SELECT count(DISTINCT a) FROM t", False, "SELECT count( a) FROM t", False),
    ("SELECT a FROM t WHERE b = 'distinct'", False, "SELECT a FROM t WHERE b = 'distinct'", False),
    ("SELECT a FROM t; DROP TABLE t", False, "SELECT a FROM t; ", False),  # first statement only
    ("SELECT a FROM t ORDER BY a", True, "SELECT a FROM t ORDER BY a", True),
    ("SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY b)", True, "SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY b)", True),
    ("SELECT a FROM t WHERE y = YEAR(CURDATE()) ", True, "SELECT a FROM t WHERE y = 2020", False),
]


@pytest.mark.parametrize(("sql", "is_gold", "text", "order_matters"), PREPARE_CASES)
def test_spider_prepare_reproduces_official_rewrites(sql: str, is_gold: bool, text: str, order_matters: bool) -> None:
    prepared = spider_prepare(sql, is_gold=is_gold)
    assert (prepared.sql, prepared.order_matters) == (text, order_matters)


def test_spider_prepare_strict_runs_the_text_unchanged() -> None:
    sql = "SELECT count(DISTINCT a) FROM t WHERE b = value  AND c > = 1; SELECT 2"
    assert spider_prepare(sql, is_gold=False, strict=True).sql == sql
    nested = "SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY b)"
    assert spider_prepare(nested, is_gold=True, strict=True).order_matters is False
    assert spider_prepare(nested + " ORDER BY a", is_gold=True, strict=True).order_matters is True


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t",
        "SELECT a FROM t;",
        "SELECT a FROM t;\n",
        "SELECT 'x;y' FROM t",
        "SELECT a FROM t; SELECT b FROM u",
        "SELECT a FROM t;;",
        "SELECT a -- c;\nFROM t",
        "/* ; */ SELECT a FROM t",
        "SELECT DISTINCT a FROM t;",
        'SELECT a FROM t WHERE b = "DISTINCT"',
        "  SELECT a\tFROM t  ",
        "SELECT a FROM t ; ",
    ],
)
def test_distinct_removal_fast_path_executes_like_sqlparse(sql: str) -> None:
    # The fast path may keep trailing whitespace sqlparse drops; nothing else may differ.
    official = "".join(t.value for t in sqlparse.parse(sql)[0].flatten() if t.value.lower() != "distinct")
    assert result_match.remove_distinct_tokens(sql).rstrip() == official.rstrip()


def test_text_metrics_on_equivalent_and_different_queries() -> None:
    schema = DbSchema.build({"singer": ["singer_id", "name", "age"], "concert": ["concert_id", "singer_id"]})
    gold = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T1.age > 30"
    same = "select singer.name from concert join singer on singer.singer_id = concert.singer_id where singer.age > 40"
    result = text_metrics.text_metrics(gold, same, schema)
    assert result.valid_sql and result.hallucinated == ()
    other = text_metrics.text_metrics(gold, "SELECT nickname FROM singers ORDER BY age", schema)
    assert other.valid_sql and other.hallucinated == ("column:nickname", "table:singers")
    broken = text_metrics.text_metrics(gold, "SELECT name FROM singer WHERE", schema)
    assert (broken.valid_sql, broken.hallucinated) == (False, None)


def _hallucinated(sql: str, schema: text_metrics.DbSchema) -> tuple[str, ...] | None:
    return text_metrics.text_metrics("SELECT 1", sql, schema).hallucinated


def test_hallucination_ignores_aliases_ctes_and_double_quoted_values() -> None:
    schema = DbSchema.build({"singer": ["name", "age", "country"], "song": ["title", "singer_name"]})
    sql = (
        "WITH old AS (SELECT name AS who FROM singer WHERE age > 60) "
        "SELECT o.who, count(*) AS n FROM old AS o JOIN singer AS s ON s.name = o.who "
        'WHERE s.country = "France" GROUP BY o.who ORDER BY n'
    )
    assert _hallucinated(sql, schema) == ()
    assert _hallucinated("SELECT `stage name` FROM singer", schema) == ("column:stage name",)


def test_hallucination_checks_columns_against_the_tables_in_scope() -> None:
    schema = DbSchema.build({"singer": ["name", "age"], "song": ["title", "singer_name"]})
    check = _hallucinated
    assert check("SELECT title FROM singer", schema) == ("column:title",)  # exists, but in another table
    assert check("SELECT T2.age FROM singer AS T1 JOIN song AS T2 ON T1.name = T2.singer_name", schema) == ("column:age",)
    # correlated subquery: the outer table's columns are visible inside
    assert check("SELECT name FROM singer WHERE age > (SELECT count(*) FROM song WHERE singer_name = name)", schema) == ()
    # past a derived table only the database as a whole is checked
    assert check("SELECT title FROM (SELECT * FROM song) AS s", schema) == ()


def test_validity_means_one_parseable_statement() -> None:
    def valid(sql: str) -> bool:
        return text_metrics.text_metrics("SELECT 1", sql, None).valid_sql

    assert valid("SELECT a FROM t;")
    assert not valid("SELECT a FROM t; SELECT b FROM u")
    assert not valid("SELECT FROM WHERE")


def test_rouge_l_f1() -> None:
    assert text_metrics.rouge_l_f1("SELECT a FROM t", "SELECT a FROM t") == 1.0
    # tokens: select a from t (4) vs select b from t where c = 1 (8): LCS select, from, t = 3
    assert text_metrics.rouge_l_f1("SELECT a FROM t", "SELECT b FROM t WHERE c = 1") == pytest.approx(2 * 3 / 12)
    assert text_metrics.rouge_l_f1("SELECT a FROM t", "") == 0.0


def test_ves_and_r_ves_follow_bird() -> None:
    assert ves.ves([4.0, 0.0]) == pytest.approx((math.sqrt(4) * 100 + 0) / 2)
    # rewards: ratio 3 -> 1.25, 1.5 -> 1, 0.6 -> 0.75, 0.3 -> 0.5, 0.1 -> 0.25, 0 -> 0
    expected = sum(math.sqrt(r) * 100 for r in (1.25, 1, 0.75, 0.5, 0.25, 0)) / 6
    assert ves.r_ves([3, 1.5, 0.6, 0.3, 0.1, 0]) == pytest.approx(expected)
    assert ves.mean_without_outliers([1.0] * 20 + [1000.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ves.mean_without_outliers([])
