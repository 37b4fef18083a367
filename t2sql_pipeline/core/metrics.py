"""Result comparison under Spider and BIRD semantics.

Spider (default flags of taoyds/test-suite-sql-eval, our own implementation):
both queries get its text rewrites (`spider_prepare`), row order counts only
when the gold SQL contains "order by", rows are compared as multisets and
columns may be permuted. BIRD: the sets of result rows must be equal, with
column order significant. `strict=True` keeps the Spider denotation
comparison but drops the quirks listed at `spider_prepare`.

>>> spider_rows_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], order_matters=False)
True
>>> bird_rows_match([(1, "a")], [("a", 1)])
False
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Row = tuple[Any, ...]

_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)
_TOP_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


@dataclass(frozen=True)
class PreparedQuery:
    """The SQL text that is executed, and (for gold) whether row order counts."""

    sql: str
    order_matters: bool = False


def remove_distinct_tokens(sql: str) -> str:
    """Drop every DISTINCT token, keeping only the first statement (official behaviour).

    Token-level, so `COUNT(DISTINCT x)` becomes `COUNT( x)` as well; sqlparse
    splits statements, and the official script keeps `parse(...)[0]`.
    """
    import sqlparse

    statements = sqlparse.parse(sql)
    if not statements:
        return sql
    return "".join(tok.value for tok in statements[0].flatten() if tok.value.lower() != "distinct")


def spider_prepare(sql: str, *, is_gold: bool, strict: bool = False) -> PreparedQuery:
    """Rewrite `sql` the way the Spider test-suite evaluator does before executing it.

    Quirks reproduced unless `strict`: in predictions the substring " value " becomes
    " 1 " (also inside string literals); "> =", "< =", "! =" lose their space; every
    DISTINCT token is removed (so COUNT(DISTINCT x) counts duplicates) and only the
    first statement survives; YEAR(CURDATE()) becomes 2020; row order counts when
    the gold text contains "order by" anywhere (a subquery or a literal too).
    `strict`: the text runs unchanged, DISTINCT kept (the official --keep_distinct),
    and row order counts only when the gold has a top-level ORDER BY.
    """
    if strict:
        text = sql.strip()
        return PreparedQuery(text, is_gold and _has_top_level_order_by(text))
    if not is_gold:
        sql = sql.replace(" value ", " 1 ")
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = remove_distinct_tokens(sql)
    order_matters = is_gold and "order by" in sql.lower()
    return PreparedQuery(_CUR_YEAR.sub("2020", sql), order_matters)


def _has_top_level_order_by(sql: str) -> bool:
    """ORDER BY of the outermost query (sqlglot AST; a text search if it does not parse)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return bool(_TOP_ORDER_BY.search(sql))
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def _quirk_key(value: Any) -> str:
    return str(value) + str(type(value))


def _quick_check(gold: Sequence[Row], pred: Sequence[Row], order_matters: bool) -> bool:
    """Official quick reject: rows with their cells sorted by text+type must agree.

    A necessary condition except when int and float cells mix (1 vs 1.0 sort
    differently), which the official script also rejects; `strict` skips it.
    """
    canon_gold = [tuple(sorted(row, key=_quirk_key)) for row in gold]
    canon_pred = [tuple(sorted(row, key=_quirk_key)) for row in pred]
    return canon_gold == canon_pred if order_matters else set(canon_gold) == set(canon_pred)


def spider_rows_match(
    gold: Sequence[Row], pred: Sequence[Row], *, order_matters: bool, strict: bool = False
) -> bool:
    """True when some column permutation of `pred` equals `gold` (as bags, or lists if ordered)."""
    if not gold and not pred:
        return True
    if len(gold) != len(pred) or len(gold[0]) != len(pred[0]):
        return False
    if not strict and not _quick_check(gold, pred, order_matters):
        return False
    n_cols = len(gold[0])
    gold_cols = [tuple(row[i] for row in gold) for i in range(n_cols)]
    pred_cols = [tuple(row[j] for row in pred) for j in range(n_cols)]
    gold_target: list[Row] | Counter[Row] = list(gold) if order_matters else Counter(gold)

    def signature(column: tuple[Any, ...]) -> object:
        return column if order_matters else Counter(column)

    # Pred columns holding identical values are interchangeable: try one per class.
    classes: dict[tuple[Any, ...], list[int]] = {}
    for j, column in enumerate(pred_cols):
        classes.setdefault(column, []).append(j)
    class_keys = list(classes)
    candidates = [
        [k for k, key in enumerate(class_keys) if signature(key) == signature(gold_col)]
        for gold_col in gold_cols
    ]
    remaining = [len(classes[key]) for key in class_keys]
    chosen: list[int] = []

    def search(i: int) -> bool:
        if i == n_cols:
            perm = _columns_from_classes(chosen, [classes[key] for key in class_keys])
            permuted = [tuple(row[j] for j in perm) for row in pred]
            return (permuted if order_matters else Counter(permuted)) == gold_target
        for k in candidates[i]:
            if remaining[k]:
                remaining[k] -= 1
                chosen.append(k)
                if search(i + 1):
                    return True
                chosen.pop()
                remaining[k] += 1
        return False

    return search(0)


def _columns_from_classes(chosen: list[int], members: list[list[int]]) -> list[int]:
    used = [0] * len(members)
    perm = []
    for k in chosen:
        perm.append(members[k][used[k]])
        used[k] += 1
    return perm


def bird_rows_match(gold: Sequence[Row], pred: Sequence[Row]) -> bool:
    """BIRD EX: equal sets of rows; duplicates and row order ignored, column order kept."""
    return set(gold) == set(pred)


# ----------------------------------------------------------------------------- text metrics


@dataclass(frozen=True)
class DbSchema:
    """Lower-cased table and column names of one database."""

    tables: frozenset[str]
    columns: frozenset[str]

    @classmethod
    def build(cls, tables: Sequence[str], columns: Sequence[str]) -> DbSchema:
        return cls(frozenset(t.lower() for t in tables), frozenset(c.lower() for c in columns))


def _parse_one(sql: str) -> Any | None:
    """The sqlglot AST of `sql` if it is exactly one statement in the SQLite dialect."""
    import sqlglot

    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError):
        return None
    return statements[0] if len(statements) == 1 else None


def is_valid_sql(sql: str) -> bool:
    """Parses with sqlglot's SQLite dialect as exactly one statement."""
    return _parse_one(sql) is not None


def sql_tokens(sql: str) -> list[str]:
    """Lower-cased SQL tokens (sqlglot's tokenizer; a regex split if it refuses the text)."""
    from sqlglot.errors import SqlglotError
    from sqlglot.tokens import Tokenizer

    try:
        return [token.text.lower() for token in Tokenizer().tokenize(sql)]
    except (SqlglotError, ValueError):
        return [t.lower() for t in re.findall(r"\w+|[^\w\s]", sql)]


def rouge_l_f1(reference: str, candidate: str) -> float:
    """ROUGE-L F1: longest common token subsequence against both lengths."""
    ref, cand = sql_tokens(reference), sql_tokens(candidate)
    if not ref or not cand:
        return 0.0
    previous = [0] * (len(cand) + 1)
    for r in ref:
        current = [0]
        for j, c in enumerate(cand):
            current.append(previous[j] + 1 if r == c else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _is_delimited(sql: str, name: str) -> bool:
    """True when `name` appears `backticked` or [bracketed]: a real identifier in SQLite.

    A "double-quoted" name that matches no column is a string literal to SQLite,
    so it is neither an identifier nor a hallucination.
    """
    return f"`{name}`".lower() in sql.lower() or f"[{name}]".lower() in sql.lower()


def hallucinated_identifiers(sql: str, schema: DbSchema) -> tuple[str, ...] | None:
    """Tables and columns `sql` uses that `schema` lacks ("table:x", "column:y"); None if unparseable."""
    from sqlglot import exp

    tree = _parse_one(sql)
    if tree is None:
        return None
    defined = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    defined |= {a.alias.lower() for a in tree.find_all(exp.Alias, exp.TableAlias) if a.alias}
    for table_alias in tree.find_all(exp.TableAlias):
        defined |= {c.name.lower() for c in table_alias.columns}
    unknown = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name and name not in schema.tables and name not in defined:
            unknown.add(f"table:{name}")
    for column in tree.find_all(exp.Column):
        if isinstance(column.this, exp.Star):
            continue
        name = column.name.lower()
        if name in schema.columns or name in defined:
            continue
        if column.this.args.get("quoted") and not _is_delimited(sql, column.name):
            continue
        unknown.add(f"column:{name}")
    return tuple(sorted(unknown))


def exact_set_match(gold_sql: str, pred_sql: str) -> bool | None:
    """Clause-by-clause set equality of normalized ASTs; None when the gold does not parse.

    Ours, not the official component matcher: identifiers lower-cased, table
    aliases resolved per SELECT, values and DISTINCT ignored (as the official
    defaults do), SELECT items, FROM tables, conjuncts of WHERE/ON/HAVING and
    GROUP BY compared as multisets, ORDER BY as a list, LIMIT by presence.
    """
    gold_tree = _parse_one(gold_sql)
    if gold_tree is None:
        return None
    pred_tree = _parse_one(pred_sql)
    return pred_tree is not None and _canon_query(gold_tree, {}) == _canon_query(pred_tree, {})


def _canon_query(node: Any, outer: dict[str, str]) -> object:
    from sqlglot import exp

    if isinstance(node, exp.Subquery):
        return _canon_query(node.this, outer)
    if isinstance(node, exp.SetOperation):
        return (type(node).__name__, _canon_query(node.left, outer), _canon_query(node.right, outer))
    if not isinstance(node, exp.Select):
        return ("other", node.sql(dialect="sqlite").lower())
    sources = [node.args.get("from_") or node.args.get("from"), *(node.args.get("joins") or [])]
    aliases, tables = dict(outer), []
    for source in filter(None, sources):
        this = source.this
        if isinstance(this, exp.Table):
            aliases[(this.alias or this.name).lower()] = this.name.lower()
            tables.append(this.name.lower())
        else:
            tables.append(repr(_canon_query(this, outer)))
    only = tables[0] if len(tables) == 1 else None
    conjuncts = [j.args["on"] for j in node.args.get("joins") or [] if j.args.get("on")]

    def canon(expression: Any) -> str:
        return _canon_expr(expression, aliases, only)

    def flat(condition: Any) -> list[str]:
        return sorted(canon(part) for part in condition.flatten()) if condition is not None else []

    where, having = node.args.get("where"), node.args.get("having")
    order = node.args.get("order")
    return (
        tuple(sorted(canon(e) for e in node.expressions)),
        tuple(sorted(tables)),
        tuple(sorted(canon(c) for cond in conjuncts for c in (cond.flatten() if isinstance(cond, exp.And) else [cond]))),
        tuple(flat(where.this) if where and isinstance(where.this, exp.And) else [canon(where.this)] if where else []),
        tuple(sorted(canon(e) for e in (node.args.get("group").expressions if node.args.get("group") else []))),
        tuple(flat(having.this) if having and isinstance(having.this, exp.And) else [canon(having.this)] if having else []),
        tuple(canon(o) for o in (order.expressions if order else [])),
        node.args.get("limit") is not None,
    )


def _canon_expr(expression: Any, aliases: dict[str, str], only_table: str | None) -> str:
    from sqlglot import exp

    tree = expression.copy()
    if isinstance(tree, exp.Alias):
        tree = tree.this
    for sub in list(tree.find_all(exp.Select)):
        if sub.find_ancestor(exp.Select) is None:
            sub.replace(exp.Var(this=repr(_canon_query(sub, aliases))))
    for literal in list(tree.find_all(exp.Literal)):
        literal.replace(exp.Var(this="?"))
    for column in list(tree.find_all(exp.Column)):
        table = column.table.lower()
        table = aliases.get(table, table) if table else (only_table or "")
        column.replace(exp.column(column.name.lower(), table=table or None))
    for distinct in list(tree.find_all(exp.Distinct)):
        distinct.replace(exp.Tuple(expressions=distinct.expressions))
    return tree.sql(dialect="sqlite").lower()


# ----------------------------------------------------------------------------- BIRD VES


def mean_without_outliers(values: Sequence[float]) -> float:
    """Mean of `values` within 3 standard deviations of their mean (BIRD's cleaning)."""
    if not values:
        raise ValueError("mean_without_outliers needs at least one value")
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    kept = [v for v in values if mean - 3 * std < v < mean + 3 * std] or list(values)
    return sum(kept) / len(kept)


def ves(time_ratios: Sequence[float]) -> float:
    """BIRD VES: mean of sqrt(gold time / predicted time) * 100, 0 for wrong answers."""
    return sum(math.sqrt(r) * 100 for r in time_ratios) / len(time_ratios)


def _reward(ratio: float) -> float:
    if ratio == 0:
        return 0.0
    for bound, reward in ((2, 1.25), (1, 1.0), (0.5, 0.75), (0.25, 0.5)):
        if ratio >= bound:
            return reward
    return 0.25


def r_ves(time_ratios: Sequence[float]) -> float:
    """BIRD mini-dev R-VES: time ratios bucketed into rewards, mean of sqrt(reward) * 100."""
    return sum(math.sqrt(_reward(r)) * 100 for r in time_ratios) / len(time_ratios)
