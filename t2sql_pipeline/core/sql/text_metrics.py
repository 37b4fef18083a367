"""SQL text metrics that need no execution: validity (sqlglot; reports take valid SQL from SQLite, `execution.sqlite_prepares`), ROUGE-L over SQL tokens, hallucinated schema names.

Exact-set match is the official one, in `t2sql_pipeline.core.sql.exact_match`.

>>> round(rouge_l_f1("SELECT name FROM singer", "SELECT name FROM concert"), 2)
0.75
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = tuple[Any, ...]


@dataclass(frozen=True)
class DbSchema:
    """Lower-cased tables of one database, their columns, and all columns together."""

    tables: frozenset[str]
    columns: frozenset[str]
    by_table: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def build(cls, columns_by_table: Mapping[str, Iterable[str]]) -> DbSchema:
        by_table = {t.lower(): frozenset(c.lower() for c in cols) for t, cols in columns_by_table.items()}
        return cls(frozenset(by_table), frozenset().union(*by_table.values()), by_table)


@dataclass(frozen=True)
class TextMetrics:
    """Metrics that need no execution (None: not applicable, e.g. no schema)."""

    valid_sql: bool
    rouge_l: float
    hallucinated: tuple[str, ...] | None


@dataclass(frozen=True)
class GoldText:
    """What text metrics need of a gold query: its tokens (computed once, cacheable)."""

    tokens: tuple[str, ...]


def gold_text(gold_sql: str) -> GoldText:
    """The gold side of `text_metrics`."""
    return GoldText(tuple(sql_tokens(gold_sql)))


def text_metrics(gold_sql: str, pred_sql: str, schema: DbSchema | None, gold: GoldText | None = None) -> TextMetrics:
    """Validity, ROUGE-L and hallucinated names, tokenizing and parsing the prediction once."""
    pred_words, pred_tree = _tokens_and_tree(pred_sql)
    gold = gold or gold_text(gold_sql)
    return TextMetrics(
        valid_sql=pred_tree is not None,
        rouge_l=_lcs_f1(gold.tokens, pred_words),
        hallucinated=None if schema is None or pred_tree is None else _hallucinated(pred_tree, pred_sql, schema),
    )


def _tokens_and_tree(sql: str) -> tuple[list[str], Any | None]:
    """`sql_tokens(sql)` and `_parse_one(sql)` from one run of the tokenizer."""
    import sqlglot
    from sqlglot.dialects.dialect import Dialect

    dialect = Dialect.get_or_raise("sqlite")
    try:
        tokens = dialect.tokenize(sql)
    except (sqlglot.errors.SqlglotError, ValueError):
        return sql_tokens(sql), None
    words = [token.text.lower() for token in tokens]
    try:
        statements = [s for s in dialect.parser().parse(tokens, sql) if s is not None]
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError):
        return words, None
    one = len(statements) == 1 and not isinstance(statements[0], sqlglot.exp.Command)
    return words, statements[0] if one else None


def sql_tokens(sql: str) -> list[str]:
    """Lower-cased SQL tokens (sqlglot's SQLite tokenizer; a regex split if it refuses the text)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        return [token.text.lower() for token in Dialect.get_or_raise("sqlite").tokenize(sql)]
    except (SqlglotError, ValueError):
        return [t.lower() for t in re.findall(r"\w+|[^\w\s]", sql)]


def rouge_l_f1(reference: str, candidate: str) -> float:
    """ROUGE-L F1: longest common token subsequence against both lengths."""
    return _lcs_f1(sql_tokens(reference), sql_tokens(candidate))


def _lcs_f1(ref: Sequence[str], cand: Sequence[str]) -> float:
    lcs = _lcs_length(ref, cand)
    return 0.0 if lcs == 0 else 2 * lcs / (len(ref) + len(cand))


def _lcs_length(ref: Sequence[str], cand: Sequence[str]) -> int:
    """Longest common subsequence length, bit-parallel over `cand` (Crochemore et al., 2001).

    Bit j of `row` is 0 where the LCS grows at `cand[j]`; one integer operation per
    `ref` token replaces a row of the dynamic program.
    """
    positions: dict[str, int] = {}
    for j, token in enumerate(cand):
        positions[token] = positions.get(token, 0) | (1 << j)
    full = (1 << len(cand)) - 1
    row = full
    for token in ref:
        matches = row & positions.get(token, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(cand) - row.bit_count()


def _hallucinated(tree: Any, sql: str, schema: DbSchema) -> tuple[str, ...]:
    """Unknown tables; columns missing from the tables in scope (lenient past subqueries)."""
    from sqlglot import exp

    defined = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    defined |= {a.alias.lower() for a in tree.find_all(exp.Alias, exp.TableAlias) if a.alias}
    for table_alias in tree.find_all(exp.TableAlias):
        defined |= {c.name.lower() for c in table_alias.columns}
    unknown = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name and name not in schema.tables and name not in defined:
            unknown.add(f"table:{name}")
    lowered = sql.lower()
    for column in tree.find_all(exp.Column):
        name = column.name.lower()
        if isinstance(column.this, exp.Star) or name in defined or name in _columns_in_scope(column, schema):
            continue
        # SQLite reads an unknown "double-quoted" name as a string literal, not a column;
        # `backticks` and [brackets] are always identifiers.
        if column.this.args.get("quoted") and f"`{name}`" not in lowered and f"[{name}]" not in lowered:
            continue
        unknown.add(f"column:{name}")
    return tuple(sorted(unknown))


def _columns_in_scope(column: Any, schema: DbSchema) -> frozenset[str]:
    """Columns `column` may name: its qualifier's table, else the tables of its SELECT and outer ones."""
    from sqlglot import exp

    scopes: list[dict[str, str | None]] = []  # inner to outer: alias -> schema table (None: derived)
    select = column.find_ancestor(exp.Select)
    while select is not None:
        scope: dict[str, str | None] = {}
        for source in filter(None, [select.args.get("from_"), *(select.args.get("joins") or [])]):
            table = source.this.name.lower() if isinstance(source.this, exp.Table) else None
            scope[(source.this.alias or table or "").lower()] = table if table in schema.by_table else None
        scopes.append(scope)
        select = select.find_ancestor(exp.Select)
    qualifier = column.table.lower()
    for scope in scopes if qualifier else ():
        if qualifier in scope:
            table = scope[qualifier]
            return schema.by_table[table] if table else schema.columns
    visible = [t for scope in scopes for t in scope.values()]
    if qualifier or not visible or None in visible or not schema.by_table:
        return schema.columns  # derived tables, unknown qualifiers: only the database as a whole
    return frozenset().union(*(schema.by_table[t] for t in visible if t))
