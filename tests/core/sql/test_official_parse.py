"""The official reading of SQL: its tokens, its refusals and its quirks, case by case."""

from __future__ import annotations

import pytest

from t2sql_pipeline.core.sql.official_parse import OfficialParseError, read_sql
from t2sql_pipeline.core.sql.official_schema import OfficialSchema
from t2sql_pipeline.core.sql.official_tokens import OfficialTokenError, official_tokens

SCHEMA = OfficialSchema.build(
    {
        "Singer": ["Singer_ID", "Name", "Age", "Country"],
        "concert": ["concert_ID", "Stadium_ID", "Year"],
        "singer_in_concert": ["concert_ID", "Singer_ID"],
    }
)

# text; tokens
TOKENS = [
    ("SELECT a>=1", ["select", "a", ">", "=1"]),  # NLTK splits `>` off but leaves `=1` whole
    ("SELECT a > = 1", ["select", "a", ">=", "1"]),
    ("WHERE a=b", ["where", "a=b"]),  # `=` is not split off: one token
    ("WHERE a<>b", ["where", "a", "<", ">", "b"]),
    ("WHERE x != 'It''s'", ["where", "x", "!=", "__val_11_14____val_15_17__"]),  # two values glued: lost
    ("SELECT `name` FROM t", ["select", "`", "name", "`", "from", "t"]),
    ("SELECT cannot FROM t;", ["select", "can", "not", "from", "t", ";"]),
    ("SELECT T1.Name FROM a.", ["select", "t1.name", "from", "a", "."]),
]


@pytest.mark.parametrize(("text", "tokens"), TOKENS)
def test_tokens_follow_the_official_tokenizer(text: str, tokens: list[str]) -> None:
    assert official_tokens(text) == tokens


def test_an_odd_number_of_quotes_is_refused() -> None:
    with pytest.raises(OfficialTokenError):
        official_tokens("SELECT name FROM singer WHERE name = 'O'Brien'")


UNREADABLE = [
    "SELECT name FROM singer WHERE NOT age IN (SELECT age FROM singer)",
    "SELECT name FROM singer WHERE age <> 20",
    'SELECT "name" FROM singer',  # a double-quoted name is a string value, not a column
    "SELECT name AS n FROM singer",
    "SELECT `name` FROM singer",
    "SELECT T1.name FROM singer AS T1 INNER JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id",
    "SELECT T1.name FROM singer AS T1 LEFT JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id",
    "SELECT s.name FROM singer s",
    "SELECT name FROM singer, concert",
    "SELECT name FROM singer WHERE country IS NULL",
    "SELECT name FROM singer WHERE age IN (20, 30)",
    "SELECT nickname FROM singer",
    "SELECT name FROM singer AS singer",  # an alias with the name of a table
    "SELECT name FROM singer LIMIT",  # it looks at the token after LIMIT
    "",
]


@pytest.mark.parametrize("sql", UNREADABLE)
def test_what_the_official_parser_refuses(sql: str) -> None:
    with pytest.raises(OfficialParseError):
        read_sql(sql, SCHEMA)


def test_structure_of_a_join_with_aggregates() -> None:
    sql = read_sql(
        "SELECT T1.name, count(*) FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
        "GROUP BY T1.name HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 3",
        SCHEMA,
    )
    assert sql.select == (
        False,
        (
            (0, (0, (0, "__singer.name__", False), None)),
            (3, (0, (0, "__all__", False), None)),
        ),
    )
    assert sql.table_units == (("table_unit", "__singer__"), ("table_unit", "__singer_in_concert__"))
    assert sql.from_conds == ((False, 2, (0, (0, "__singer.singer_id__", False), None), (0, "__singer_in_concert.singer_id__", False), None),)
    assert sql.group_by == ((0, "__singer.name__", False),)
    assert sql.having == ((False, 3, (0, (3, "__all__", False), None), 1.0, None),)
    assert sql.order_by == ("desc", ((0, (3, "__all__", False), None),))
    assert sql.limit == 1  # the official reader never keeps the number


def test_a_column_value_swallows_everything_up_to_the_next_and() -> None:
    sql = read_sql("SELECT name FROM singer WHERE age = singer_id OR country = 'x' AND age > 3", SCHEMA)
    assert [item if isinstance(item, str) else item[2][1][1] for item in sql.where] == [
        "__singer.age__",
        "and",
        "__singer.age__",
    ]


def test_set_operations_nest_to_the_right_and_trailing_tokens_are_ignored() -> None:
    sql = read_sql("SELECT name FROM singer UNION SELECT name FROM singer WHERE age > 1 ; garbage here", SCHEMA)
    assert sql.union is not None and sql.union.where and sql.intersect is None


def test_unqualified_columns_resolve_to_the_first_from_table_holding_them() -> None:
    sql = read_sql("SELECT singer_id FROM singer_in_concert JOIN singer", SCHEMA)
    assert sql.select[1][0][1][1][1] == "__singer_in_concert.singer_id__"
