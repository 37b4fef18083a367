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
    if "distinct" not in sql.lower() and (";" not in sql or sql.rstrip().find(";") == len(sql.rstrip()) - 1):
        # Nothing to drop and one statement: sqlparse would hand the text back (checked
        # on every Spider dev gold and prediction), and it costs ~5 ms a query.
        return sql
    # The first statement's tokens, as `sqlparse.parse(sql)[0].flatten()` gives them, without
    # grouping the statements into a tree (which changes no token and costs most of the time).
    from sqlparse.engine import FilterStack

    first = next(iter(FilterStack().run(sql)), None)
    if first is None:
        return sql
    return "".join(tok.value for tok in first.flatten() if tok.value.lower() != "distinct")


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
        return PreparedQuery(text, is_gold and order_matters(text, strict=True))
    if not is_gold:
        sql = sql.replace(" value ", " 1 ")
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = remove_distinct_tokens(sql)
    return PreparedQuery(_CUR_YEAR.sub("2020", sql), is_gold and order_matters(sql))


def order_matters(sql: str, *, strict: bool = False) -> bool:
    """Whether rows of `sql` must come in order to match: the one rule for scoring, voting and rewards.

    The official rule: the text contains "order by" anywhere (a subquery or a literal too).
    `strict`: only an ORDER BY of the outermost query (sqlglot AST; a text search if it does not parse).

    >>> order_matters("SELECT a FROM t ORDER BY a"), order_matters("SELECT a FROM (SELECT a FROM t ORDER BY a)")
    (True, True)
    >>> order_matters("SELECT a FROM (SELECT a FROM t ORDER BY a)", strict=True)
    False
    """
    if not strict:
        return "order by" in sql.lower()
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
    if gold and len(gold[0]) == 1:  # one cell a row: sorting the cells changes nothing
        return list(gold) == list(pred) if order_matters else set(gold) == set(pred)
    canon_gold = [tuple(sorted(row, key=_quirk_key)) for row in gold]
    canon_pred = [tuple(sorted(row, key=_quirk_key)) for row in pred]
    return canon_gold == canon_pred if order_matters else set(canon_gold) == set(canon_pred)


def spider_rows_match(gold: Sequence[Row], pred: Sequence[Row], *, order_matters: bool, strict: bool = False) -> bool:
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
    # A column permutation can only work if each gold column equals its pred column as a bag (list).
    class_signatures = [signature(key) for key in class_keys]
    candidates = [[k for k, sig in enumerate(class_signatures) if sig == gold_sig] for gold_sig in map(signature, gold_cols)]
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
