"""SQL text metrics that need no execution: validity (sqlglot), our exact-set match, ROUGE-L over SQL tokens, hallucinated schema names.

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
    exact_set_match: bool | None
    rouge_l: float
    hallucinated: tuple[str, ...] | None


@dataclass(frozen=True)
class GoldText:
    """What text metrics need of a gold query: its normal form and its tokens (computed once, cacheable)."""

    canon: object | None
    tokens: tuple[str, ...]


def gold_text(gold_sql: str, schema: DbSchema | None, *, set_match: bool = True) -> GoldText:
    """The gold side of `text_metrics` (without the normal form unless `set_match`)."""
    return GoldText(_gold_canon(gold_sql, schema) if set_match else None, tuple(sql_tokens(gold_sql)))


def text_metrics(gold_sql: str, pred_sql: str, schema: DbSchema | None, gold: GoldText | None = None, *, set_match: bool = True) -> TextMetrics:
    """Validity, exact-set match, ROUGE-L and hallucinated names, tokenizing and parsing each text once.

    `set_match=False` skips our exact-set match (None): reports use the official one
    (`t2sql_pipeline.core.sql.exact_match`).
    """
    pred_words, pred_tree = _tokens_and_tree(pred_sql)
    gold = gold or gold_text(gold_sql, schema, set_match=set_match)
    pred_canon = None
    if set_match and pred_tree is not None:
        pred_canon = _canon(pred_tree, ({}, None, _quoted_values(pred_tree, pred_sql, schema)))
    return TextMetrics(
        valid_sql=pred_tree is not None,
        exact_set_match=None if gold.canon is None or not set_match else pred_canon == gold.canon,
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


def _parse_one(sql: str) -> Any | None:
    """The sqlglot AST of `sql` if it is exactly one statement in the SQLite dialect."""
    import sqlglot

    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError):
        return None
    # A Command is sqlglot's fallback for text it could not parse: not valid SQL for us.
    return statements[0] if len(statements) == 1 and not isinstance(statements[0], sqlglot.exp.Command) else None


_GOLD_CANON: dict[tuple[str, DbSchema | None], object] = {}  # per process: gold repeats across files


def _gold_canon(gold_sql: str, schema: DbSchema | None) -> object | None:
    key = (gold_sql, schema)
    if key not in _GOLD_CANON:
        if len(_GOLD_CANON) > 50_000:
            _GOLD_CANON.clear()
        tree = _parse_one(gold_sql)
        _GOLD_CANON[key] = None if tree is None else _canon(tree, ({}, None, _quoted_values(tree, gold_sql, schema)))
    return _GOLD_CANON[key]


def _quoted_values(tree: Any, sql: str, schema: DbSchema | None) -> frozenset[str]:
    """Double-quoted names that SQLite will read as string values, not columns."""
    from sqlglot import exp

    lowered = sql.lower()
    return frozenset(
        name
        for column in tree.find_all(exp.Column)
        if column.this.args.get("quoted")
        and not column.table
        and f"`{(name := column.name.lower())}`" not in lowered
        and f"[{name}]" not in lowered
        and (schema is None or name not in schema.columns)
    )


def is_valid_sql(sql: str) -> bool:
    """Parses with sqlglot's SQLite dialect as exactly one statement."""
    return _parse_one(sql) is not None


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


def hallucinated_identifiers(sql: str, schema: DbSchema) -> tuple[str, ...] | None:
    """Tables and columns `sql` uses that `schema` lacks ("table:x", "column:y"); None if unparseable."""
    tree = _parse_one(sql)
    return None if tree is None else _hallucinated(tree, sql, schema)


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


def exact_set_match(gold_sql: str, pred_sql: str) -> bool | None:
    """Clause-by-clause set equality of normalized sqlglot ASTs; None when the gold does not parse.

    Ours, not the official component matcher, and not in the evaluation reports (they
    give the official exact-set match, `t2sql_pipeline.core.sql.exact_match`): identifiers lower-cased, table
    aliases resolved per SELECT, values and DISTINCT ignored (as the official
    defaults do), SELECT items, FROM tables, conjuncts of ON/WHERE/HAVING and
    GROUP BY compared as multisets, ORDER BY as a list, LIMIT by presence.
    """
    return text_metrics(gold_sql, pred_sql, None).exact_set_match


_Scope = tuple[dict[str, str], str | None, frozenset[str]]  # aliases, the only table, quoted values


def _canon(node: Any, scope: _Scope) -> object:
    """A hashable normal form of a query or expression (see `exact_set_match`)."""
    from sqlglot import exp

    if isinstance(node, exp.Select):
        return _canon_select(node, scope)
    if isinstance(node, exp.SetOperation):
        return (type(node).__name__, _canon(node.left, scope), _canon(node.right, scope))
    if isinstance(node, (exp.Subquery, exp.Alias, exp.Paren)):
        return _canon(node.this, scope)
    if isinstance(node, exp.Literal):
        return "?"
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        aliases, only_table, quoted_values = scope
        if not node.table and node.name.lower() in quoted_values:
            return "?"
        table = node.table.lower()
        return ("column", aliases.get(table, table) if table else only_table, node.name.lower())
    if isinstance(node, exp.Distinct):  # ignored, as the official DISABLE_DISTINCT does
        items = tuple(_canon(e, scope) for e in node.expressions)
        return items[0] if len(items) == 1 else items
    if isinstance(node, exp.Identifier):
        return node.name.lower()
    parts: list[object] = [type(node).__name__]
    for key, value in node.args.items():
        if isinstance(value, list):
            parts.append((key, tuple(_canon(v, scope) if isinstance(v, exp.Expression) else v for v in value)))
        elif isinstance(value, exp.Expression):
            parts.append((key, _canon(value, scope)))
        elif value not in (None, False):
            parts.append((key, str(value).lower()))
    return tuple(parts)


def _canon_select(select: Any, outer_scope: _Scope) -> object:
    from sqlglot import exp

    outer, _, quoted_values = outer_scope
    joins = select.args.get("joins") or []
    sources = [select.args.get("from_") or select.args.get("from"), *joins]
    aliases, tables = dict(outer), []
    for source in filter(None, sources):
        if isinstance(source.this, exp.Table):
            aliases[(source.this.alias or source.this.name).lower()] = source.this.name.lower()
            tables.append(source.this.name.lower())
        else:
            tables.append(repr(_canon(source.this, (outer, None, quoted_values))))
    scope = (aliases, tables[0] if len(tables) == 1 else None, quoted_values)

    def bag(items: Iterable[Any]) -> tuple[str, ...]:
        return tuple(sorted(repr(_canon(item, scope)) for item in items))

    def conjuncts(condition: Any) -> list[Any]:
        return [] if condition is None else list(condition.flatten()) if isinstance(condition, exp.And) else [condition]

    where, having, group, order = (select.args.get(k) for k in ("where", "having", "group", "order"))
    return (
        bag(select.expressions),
        tuple(sorted(tables)),
        bag(c for join in joins for c in conjuncts(join.args.get("on"))),
        bag(conjuncts(where.this if where else None)),
        bag(group.expressions if group else ()),
        bag(conjuncts(having.this if having else None)),
        tuple(_canon(o, scope) for o in (order.expressions if order else ())),
        select.args.get("limit") is not None,
    )
