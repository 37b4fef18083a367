"""The faster paths in metrics give the same answers as the plain ones they replace."""

from __future__ import annotations

import random

import pytest
import sqlparse

from t2sql_pipeline.core.sql import result_match, text_metrics
from t2sql_pipeline.core.sql.text_metrics import DbSchema


def _lcs_table(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def test_bit_parallel_lcs_equals_the_dynamic_program() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        assert text_metrics._lcs_length(a, b) == _lcs_table(a, b)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT DISTINCT a FROM t",
        "select count(distinct a) from t;",
        "SELECT 'distinct' FROM t WHERE b = \"DISTINCT\"; SELECT DISTINCT c FROM u",
        "SELECT a FROM t; DROP TABLE t",
        "-- distinct\nSELECT distinct_count FROM t",
        ";",
    ],
)
def test_distinct_removal_matches_sqlparse_parse(sql: str) -> None:
    first = sqlparse.parse(sql)[0]
    expected = "".join(tok.value for tok in first.flatten() if tok.value.lower() != "distinct")
    assert result_match.remove_distinct_tokens(sql) == expected


def test_one_tokenizer_run_agrees_with_separate_parse_and_tokens() -> None:
    import sqlglot

    def parses_as_one_statement(sql: str) -> bool:
        try:
            statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
        except sqlglot.errors.SqlglotError:
            return False
        return len(statements) == 1 and not isinstance(statements[0], sqlglot.exp.Command)

    schema = DbSchema.build({"t": ["a", "b"]})
    gold = "SELECT a FROM t WHERE b = 1"
    side = text_metrics.gold_text(gold)
    for pred in ("SELECT a FROM t WHERE b = 2", 'SELECT "a" FROM t', "not sql (", "SELECT c FROM t", "SELECT 'x", "SELECT 1; SELECT 2"):
        result = text_metrics.text_metrics(gold, pred, schema, side)
        assert result.valid_sql == parses_as_one_statement(pred)
        assert result.rouge_l == text_metrics.rouge_l_f1(gold, pred)
