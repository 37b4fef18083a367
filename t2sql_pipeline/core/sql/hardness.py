"""Spider's official hardness levels (easy / medium / hard / extra) from gold SQL.

A reimplementation, on sqlglot's AST, of the rules in the official Spider
evaluator (taoyds/test-suite-sql-eval ``evaluation.py``: ``eval_hardness``,
``count_component1``, ``count_component2``, ``count_others``) *including the
quirks of its parser* (``process_sql.py``), so that per-level scores are
comparable with published ones. It reproduces the official level for all
1,034 Spider dev questions and needs no schema: the official parser uses the
schema only to resolve names, which the counts never look at.

Counts are taken on the *first* SELECT of the query only, as the official
parser sees it (it chains ``A UNION B ORDER BY x`` as ``A`` with ``B ORDER BY x``
attached, so a trailing ORDER BY / LIMIT belongs to ``B`` and is not counted):

- component 1: WHERE, GROUP BY, ORDER BY, LIMIT present (1 each), one per
  extra table unit in FROM (a subquery in FROM is a table unit, not a nested
  query), one per OR and one per LIKE in the ON / WHERE / HAVING conditions.
  HAVING itself does not count.
- component 2: one per subquery used as a condition value (``IN (SELECT ..)``,
  ``> (SELECT ..)``, each bound of BETWEEN) plus one for INTERSECT/UNION/EXCEPT.
- others: one each for "more than one aggregate", "more than one selected
  column", "more than one WHERE condition", "more than one GROUP BY column".
  The official aggregate count has quirks kept here on purpose: in WHERE it
  counts NOT conditions, not aggregates; in HAVING it counts NOT conditions
  plus AND/OR connectors, not aggregates; in SELECT only an aggregate at the
  top of an item counts (``count(DISTINCT x)`` is one; ``a + count(*)`` none).
- conditions are read as the official parser reads them: after a unit compared
  with a column (``T1.id = T2.id``) it skips to the next AND, so an OR there,
  and the units it joins, are invisible to every count above.

Constructs the official parser rejects (parenthesised conditions, EXISTS,
literal IN lists, IS NULL, CTEs, which are ignored) are counted by their nearest
analogue rather than refused; only SQL that is not one parseable query raises
`HardnessError`.

>>> spider_hardness("SELECT count(*) FROM singer")
'easy'
>>> spider_hardness("SELECT name FROM singer WHERE age > 20 ORDER BY age")
'medium'
>>> spider_hardness("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)")
'hard'
>>> spider_components("SELECT a FROM t UNION SELECT b FROM u")
SpiderComponents(component1=0, component2=1, others=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

SpiderHardness = Literal["easy", "medium", "hard", "extra"]
SPIDER_HARDNESS_LEVELS: tuple[SpiderHardness, ...] = ("easy", "medium", "hard", "extra")

# The official val_unit holds at most two column units joined by one of these.
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)
_LIKE = (exp.Like, exp.ILike)


class HardnessError(ValueError):
    """The SQL is not a single parseable query, so it has no Spider hardness."""


@dataclass(frozen=True)
class SpiderComponents:
    """The three counts the official `eval_hardness` thresholds."""

    component1: int
    component2: int
    others: int


@dataclass(frozen=True)
class _Conditions:
    """A condition as the official parser stores it: units and the AND/OR between them."""

    units: tuple[exp.Expression, ...] = ()
    connectors: tuple[str, ...] = ()

    @property
    def ors(self) -> int:
        return self.connectors.count("or")

    def __add__(self, other: _Conditions) -> _Conditions:
        # Several ON clauses are joined with "and", like the official parser does.
        glue: tuple[str, ...] = ("and",) if self.units and other.units else ()
        return _Conditions(self.units + other.units, self.connectors + glue + other.connectors)


def spider_hardness(sql: str) -> SpiderHardness:
    """Return the official Spider hardness level of `sql` (dialect sqlite).

    >>> spider_hardness("SELECT T1.name, count(*) FROM a AS T1 JOIN b AS T2 ON T1.id = T2.id GROUP BY T1.id")
    'medium'
    """
    return level_from_components(spider_components(sql))


def spider_components(sql: str) -> SpiderComponents:
    """Count the official hardness components of `sql` (see the module docstring)."""
    query = _parse_query(sql)
    select, has_set_operation = _first_select(query, sql)
    where = _conditions(_clause_condition(select, "where"))
    having = _conditions(_clause_condition(select, "having"))
    joins: list[exp.Join] = select.args.get("joins") or []
    on = sum((_conditions(j.args.get("on")) for j in joins), _Conditions())
    all_units = on.units + where.units + having.units
    table_units = (1 if select.args.get("from_") else 0) + len(joins)

    component1 = (
        sum(bool(select.args.get(k)) for k in ("where", "group", "order", "limit"))
        + max(table_units - 1, 0)
        + on.ors
        + where.ors
        + having.ors
        + sum(isinstance(_strip_not(u), _LIKE) for u in all_units)
    )
    # The official parser attaches at most one set operation to a SELECT.
    component2 = sum(_count_subqueries(_strip_not(u)) for u in all_units) + has_set_operation

    group: list[exp.Expression] = select.args["group"].expressions if select.args.get("group") else []
    aggregates = (
        sum(isinstance(e.unalias(), exp.AggFunc) for e in select.expressions)
        # Quirk: for WHERE units the official "agg" test reads the NOT flag.
        + sum(map(_is_negated, where.units))
        + sum(isinstance(_unparen(e), exp.AggFunc) for e in group)
        + sum(_order_aggregates(o.this) for o in _order_items(select))
        # Quirk: for HAVING it reads the NOT flag of units and counts every AND/OR.
        + sum(map(_is_negated, having.units))
        + len(having.connectors)
    )
    others = (aggregates > 1) + (len(select.expressions) > 1) + (len(where.units) > 1) + (len(group) > 1)
    return SpiderComponents(component1, int(component2), int(others))


def level_from_components(c: SpiderComponents) -> SpiderHardness:
    """Map component counts to a level exactly as the official thresholds do.

    Not monotonic: (component1=2, others=2) is 'extra' while (2, 3) is 'hard'.
    """
    c1, c2, others = c.component1, c.component2, c.others
    if c2 == 0 and c1 <= 1 and others == 0:
        return "easy"
    if c2 == 0 and ((c1 <= 1 and others <= 2) or (c1 <= 2 and others <= 1)):
        return "medium"
    if c2 == 0 and ((c1 <= 2 and others >= 3) or (c1 == 3 and others <= 2)):
        return "hard"
    if c2 <= 1 and c1 <= 1 and others == 0:
        return "hard"
    return "extra"


def _parse_query(sql: str) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except SqlglotError as err:
        raise HardnessError(f"cannot parse SQL {sql!r}: {err}") from err
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise HardnessError(f"expected exactly one query, got {sql!r}")
    return statements[0]


def _first_select(query: exp.Query, sql: str) -> tuple[exp.Select, bool]:
    """The leftmost SELECT, and whether a set operation follows it."""
    # `A UNION B UNION C` nests to the left in sqlglot; the official parser counts A.
    node: exp.Expression | exp.Query = query
    has_set_operation = False
    while isinstance(node, (exp.SetOperation, exp.Subquery, exp.Paren)):
        has_set_operation |= isinstance(node, exp.SetOperation)
        node = node.this
    if not isinstance(node, exp.Select):
        raise HardnessError(f"no SELECT to classify in {sql!r}")
    return node, has_set_operation


def _clause_condition(select: exp.Select, clause: str) -> exp.Expression | None:
    node = select.args.get(clause)
    return node.this if node is not None else None


def _conditions(condition: exp.Expression | None) -> _Conditions:
    """Flatten a condition, then drop what the official parser skips over.

    Quirk: when a unit compares against a column (``T1.id = T2.id``), the official
    value parser swallows every token up to the next AND (or clause keyword), so
    ``a = T2.b OR c LIKE 'x'`` is read as the single unit ``a = T2.b``.
    """
    flat = _flatten(condition)
    units: list[exp.Expression] = []
    connectors: list[str] = []
    swallowing = False
    for i, unit in enumerate(flat.units):
        connector = flat.connectors[i - 1] if i else None
        if swallowing and connector == "or":
            continue
        if connector is not None:
            connectors.append(connector)
        units.append(unit)
        swallowing = _value_is_column(unit)
    return _Conditions(tuple(units), tuple(connectors))


def _flatten(condition: exp.Expression | None) -> _Conditions:
    """Split an AND/OR tree into its leaf conditions, in textual order."""
    if condition is None:
        return _Conditions()
    condition = _unparen(condition)
    if isinstance(condition, exp.Connector):
        left, right = _flatten(condition.this), _flatten(condition.expression)
        op = "or" if isinstance(condition, exp.Or) else "and"
        return _Conditions(left.units + right.units, left.connectors + (op,) + right.connectors)
    return _Conditions((condition,))


def _value_is_column(unit: exp.Expression) -> bool:
    """Whether the last value of a unit is what the official parser reads as a column."""
    unit = _strip_not(unit)
    if not isinstance(unit, (exp.Binary, exp.Between)):
        return False  # IN (...), EXISTS, IS NULL: no column scan
    value = _unparen(unit.args["high"] if isinstance(unit, exp.Between) else unit.expression)
    if isinstance(value, exp.Neg):
        value = _unparen(value.this)
    if isinstance(value, (exp.Literal, exp.Query, exp.Null)):
        return False
    # Its tokenizer reads "..." as a string value; sqlite's reads it as an identifier.
    return not (isinstance(value, exp.Column) and value.this.args.get("quoted"))


def _count_subqueries(node: exp.Expression) -> int:
    # Only outermost queries: what is nested inside a subquery is not counted.
    if isinstance(node, exp.Query):
        return 1
    return sum(_count_subqueries(child) for child in node.iter_expressions())


def _order_items(select: exp.Select) -> list[exp.Ordered]:
    order = select.args.get("order")
    return list(order.expressions) if order is not None else []


def _order_aggregates(expr: exp.Expression) -> int:
    # ORDER BY items are val_units: the aggregates of their (up to two) operands count.
    expr = _unparen(expr)
    if isinstance(expr, _ARITHMETIC):
        return sum(isinstance(_unparen(side), exp.AggFunc) for side in (expr.this, expr.expression))
    return int(isinstance(expr, exp.AggFunc))


def _is_negated(unit: exp.Expression) -> bool:
    # sqlglot writes `a NOT IN ..` as Not(In) but `a NOT LIKE ..` as Like(negate=True).
    return isinstance(unit, exp.Not) or bool(unit.args.get("negate"))


def _strip_not(unit: exp.Expression) -> exp.Expression:
    return _unparen(unit.this) if isinstance(unit, exp.Not) else unit


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node
