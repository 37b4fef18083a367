"""SQL read into the official Spider structure, as the official parser reads it.

A reimplementation of the reading rules of taoyds/test-suite-sql-eval
(``process_sql.get_sql``), quirks included, because exact-set match is defined on
what that parser produces and on what it refuses: a prediction it cannot read
scores no match. Among its refusals: ``NOT col IN``, ``<>``, column aliases,
``INNER``/``LEFT`` JOIN, comma joins, table aliases without ``AS``, ``IS NULL``,
literal ``IN (1, 2)`` lists, backticks, names it cannot find in the schema.
Among its readings: a value that is a column swallows every token up to the next
``AND`` (so ``a = T2.b OR c = 1`` is one condition), tokens after the query are
ignored, and ``LIMIT n`` is stored as 1.

The structure is the official one, in tuples (see ``evaluation.py``'s header):
col_unit ``(agg_id, col_id, distinct)``, val_unit ``(unit_op, col_unit1,
col_unit2)``, cond_unit ``(not_op, op_id, val_unit, val1, val2)``, a condition
alternates cond_units and ``"and"``/``"or"``; ids are ``"__table.column__"``.

>>> from t2sql_pipeline.core.sql.official_schema import OfficialSchema
>>> schema = OfficialSchema.build({"singer": ["singer_id", "name", "age"]})
>>> read_sql("SELECT name FROM singer WHERE age > 20", schema).where
((False, 3, (0, (0, '__singer.age__', False), None), 20.0, None),)
>>> read_sql("SELECT name FROM singer AS T1 WHERE T1.age <> 20", schema)
Traceback (most recent call last):
...
t2sql_pipeline.core.sql.official_parse.OfficialParseError: cannot read: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from t2sql_pipeline.core.sql.official_schema import OfficialSchema
from t2sql_pipeline.core.sql.official_tokens import OfficialTokenError, official_tokens

CLAUSE_KEYWORDS = ("select", "from", "where", "group", "order", "limit", "intersect", "union", "except")
JOIN_KEYWORDS = ("join", "on", "as")
WHERE_OPS = ("not", "between", "=", ">", "<", ">=", "<=", "!=", "in", "like", "is", "exists")
UNIT_OPS = ("none", "-", "+", "*", "/")
AGG_OPS = ("none", "max", "min", "count", "sum", "avg")
COND_OPS = ("and", "or")
SQL_OPS = ("intersect", "union", "except")
ORDER_OPS = ("desc", "asc")
_CLAUSE_END = (")", ";")

ColUnit = tuple[int, str, Any]  # (agg_id, col_id, distinct: bool, or None once distinct is disabled)
ValUnit = tuple[int, ColUnit | None, ColUnit | None]
Value = Any  # float | str (a quoted string, quotes kept) | ColUnit | OfficialSql | None
CondUnit = tuple[bool, int, ValUnit, Value, Value]
Condition = tuple[Any, ...]  # cond_units alternating with "and"/"or" (the official reader may put two units in a row)


class OfficialParseError(ValueError):
    """The official parser cannot read this SQL (it would raise); exact match counts it as no match."""


@dataclass(frozen=True)
class OfficialSql:
    """One query in the official structure (field order follows the official dict)."""

    select: tuple[Any, tuple[tuple[int, ValUnit], ...]]  # (distinct, [(agg_id, val_unit), ...])
    table_units: tuple[tuple[str, Any], ...]  # ("table_unit", "__t__") or ("sql", OfficialSql)
    from_conds: Condition
    where: Condition
    group_by: tuple[ColUnit, ...]
    having: Condition
    order_by: tuple[Any, ...]  # () or (direction, (val_unit, ...))
    limit: int | None
    intersect: OfficialSql | None
    except_: OfficialSql | None
    union: OfficialSql | None


def read_sql(sql: str, schema: OfficialSchema) -> OfficialSql:
    """Read `sql` as the official parser does; OfficialParseError where it would fail."""
    try:
        tokens = official_tokens(sql)
        reader = _Reader(tokens, _tables_with_alias(schema, tokens), schema)
        return reader.sql(0)[1]
    except OfficialParseError:
        raise
    except (OfficialTokenError, IndexError, KeyError, ValueError, RecursionError) as err:
        raise OfficialParseError(f"cannot read: {type(err).__name__}: {err}") from None


def _tables_with_alias(schema: OfficialSchema, tokens: list[str]) -> dict[str, str]:
    # Every `x AS y` in the text is an alias y -> x, column aliases too.
    aliases = {tokens[i + 1]: tokens[i - 1] for i, token in enumerate(tokens) if token == "as"}
    for table in schema.tables:
        if table in aliases:
            raise OfficialParseError(f"cannot read: alias {table!r} has the name of a table")
        aliases[table] = table
    return aliases


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise OfficialParseError(f"cannot read: {what}")


class _Reader:
    """Recursive descent over the official tokens; each method returns (next index, result)."""

    def __init__(self, tokens: list[str], aliases: dict[str, str], schema: OfficialSchema) -> None:
        self.toks, self.aliases, self.schema = tokens, aliases, schema

    def col(self, toks: list[str], i: int, default_tables: list[str] | None) -> tuple[int, str]:
        tok = toks[i]
        if tok == "*":
            return i + 1, self.schema.id_map[tok]
        if "." in tok:
            alias, column = tok.split(".")
            return i + 1, self.schema.id_map[self.aliases[alias] + "." + column]
        _check(bool(default_tables), "no table for an unqualified column")
        for alias in default_tables or ():
            table = self.aliases[alias]
            if tok in self.schema.tables[table]:
                return i + 1, self.schema.id_map[table + "." + tok]
        raise OfficialParseError(f"cannot read: unknown column {tok!r}")

    def col_unit(self, toks: list[str], i: int, default_tables: list[str] | None) -> tuple[int, ColUnit]:
        block = toks[i] == "("
        i += block
        if toks[i] in AGG_OPS:
            agg = AGG_OPS.index(toks[i])
            i += 1
            _check(i < len(toks) and toks[i] == "(", "aggregate without '('")
            i += 1
            distinct = toks[i] == "distinct"
            i += distinct
            i, col_id = self.col(toks, i, default_tables)
            _check(i < len(toks) and toks[i] == ")", "aggregate without ')'")
            return i + 1, (agg, col_id, distinct)
        distinct = toks[i] == "distinct"
        i += distinct
        i, col_id = self.col(toks, i, default_tables)
        if block:
            _check(toks[i] == ")", "expected ')'")
            i += 1
        return i, (AGG_OPS.index("none"), col_id, distinct)

    def val_unit(self, i: int, default_tables: list[str] | None) -> tuple[int, ValUnit]:
        toks = self.toks
        block = toks[i] == "("
        i += block
        i, unit1 = self.col_unit(toks, i, default_tables)
        op, unit2 = UNIT_OPS.index("none"), None
        if i < len(toks) and toks[i] in UNIT_OPS:
            op = UNIT_OPS.index(toks[i])
            i, unit2 = self.col_unit(toks, i + 1, default_tables)
        if block:
            _check(toks[i] == ")", "expected ')'")
            i += 1
        return i, (op, unit1, unit2)

    def value(self, i: int, default_tables: list[str] | None) -> tuple[int, Value]:
        toks, start = self.toks, i
        block = toks[i] == "("
        i += block
        val: Value
        if toks[i] == "select":
            i, val = self.sql(i)
        elif '"' in toks[i]:
            val, i = toks[i], i + 1
        else:
            try:
                val, i = float(toks[i]), i + 1
            except ValueError:
                # A column: the official reader takes the tokens up to the next `,`, `)`, AND or
                # keyword, reads one column unit from their start and skips the rest.
                end = i
                while end < len(toks) and toks[end] not in (",", ")", "and") and toks[end] not in CLAUSE_KEYWORDS and toks[end] not in JOIN_KEYWORDS:
                    end += 1
                val, i = self.col_unit(toks[start:end], 0, default_tables)[1], end
        if block:
            _check(toks[i] == ")", "expected ')' after a value")
            i += 1
        return i, val

    def condition(self, i: int, default_tables: list[str] | None) -> tuple[int, Condition]:
        toks, conds = self.toks, []
        while i < len(toks):
            i, unit = self.val_unit(i, default_tables)
            negated = toks[i] == "not"
            i += negated
            _check(i < len(toks) and toks[i] in WHERE_OPS, f"no condition operator at token {i}")
            op = WHERE_OPS.index(toks[i])
            i += 1
            val2 = None
            i, val1 = self.value(i, default_tables)
            if op == WHERE_OPS.index("between"):
                _check(toks[i] == "and", "BETWEEN without AND")
                i, val2 = self.value(i + 1, default_tables)
            conds.append((negated, op, unit, val1, val2))
            if i < len(toks) and (toks[i] in CLAUSE_KEYWORDS or toks[i] in _CLAUSE_END or toks[i] in JOIN_KEYWORDS):
                break
            if i < len(toks) and toks[i] in COND_OPS:
                conds.append(toks[i])
                i += 1
        return i, tuple(conds)

    def select(self, i: int, default_tables: list[str]) -> tuple[Any, tuple[tuple[int, ValUnit], ...]]:
        toks = self.toks
        _check(toks[i] == "select", "'select' not found")
        i += 1
        distinct = i < len(toks) and toks[i] == "distinct"
        i += distinct
        items = []
        while i < len(toks) and toks[i] not in CLAUSE_KEYWORDS:
            agg = AGG_OPS.index("none")
            if toks[i] in AGG_OPS:
                agg, i = AGG_OPS.index(toks[i]), i + 1
            i, unit = self.val_unit(i, default_tables)
            items.append((agg, unit))
            if i < len(toks) and toks[i] == ",":
                i += 1
        return distinct, tuple(items)

    def from_(self, start: int) -> tuple[int, tuple[tuple[str, Any], ...], Condition, list[str]]:
        toks = self.toks
        _check("from" in toks[start:], "'from' not found")
        i = toks.index("from", start) + 1  # the first FROM after the start, even a subquery's
        default_tables: list[str] = []
        units: list[tuple[str, Any]] = []
        conds: list[Any] = []
        while i < len(toks):
            block = toks[i] == "("
            i += block
            if toks[i] == "select":
                i, sub = self.sql(i)
                units.append(("sql", sub))
            else:
                if i < len(toks) and toks[i] == "join":
                    i += 1
                table = self.aliases[toks[i]]
                i += 3 if i + 1 < len(toks) and toks[i + 1] == "as" else 1
                units.append(("table_unit", self.schema.id_map[table]))
                default_tables.append(table)
            if i < len(toks) and toks[i] == "on":
                i, more = self.condition(i + 1, default_tables)
                if conds:
                    conds.append("and")
                conds.extend(more)
            if block:
                _check(toks[i] == ")", "expected ')' in FROM")
                i += 1
            if i < len(toks) and (toks[i] in CLAUSE_KEYWORDS or toks[i] in _CLAUSE_END):
                break
        return i, tuple(units), tuple(conds), default_tables

    def clause_condition(self, i: int, keyword: str, default_tables: list[str]) -> tuple[int, Condition]:
        if i >= len(self.toks) or self.toks[i] != keyword:
            return i, ()
        return self.condition(i + 1, default_tables)

    def group_by(self, i: int, default_tables: list[str]) -> tuple[int, tuple[ColUnit, ...]]:
        toks, units = self.toks, []
        if i >= len(toks) or toks[i] != "group":
            return i, ()
        _check(toks[i + 1] == "by", "GROUP without BY")
        i += 2
        while i < len(toks) and not (toks[i] in CLAUSE_KEYWORDS or toks[i] in _CLAUSE_END):
            i, unit = self.col_unit(toks, i, default_tables)
            units.append(unit)
            if not (i < len(toks) and toks[i] == ","):
                break
            i += 1
        return i, tuple(units)

    def order_by(self, i: int, default_tables: list[str]) -> tuple[int, tuple[Any, ...]]:
        toks, units, direction = self.toks, [], "asc"
        if i >= len(toks) or toks[i] != "order":
            return i, ()
        _check(toks[i + 1] == "by", "ORDER without BY")
        i += 2
        while i < len(toks) and not (toks[i] in CLAUSE_KEYWORDS or toks[i] in _CLAUSE_END):
            i, unit = self.val_unit(i, default_tables)
            units.append(unit)
            if i < len(toks) and toks[i] in ORDER_OPS:
                direction, i = toks[i], i + 1
            if not (i < len(toks) and toks[i] == ","):
                break
            i += 1
        return i, (direction, tuple(units))

    def sql(self, start: int) -> tuple[int, OfficialSql]:
        toks = self.toks
        block = toks[start] == "("
        i = start + block
        from_end, units, from_conds, default_tables = self.from_(start)
        select = self.select(i, default_tables)
        i, where = self.clause_condition(from_end, "where", default_tables)
        i, group = self.group_by(i, default_tables)
        i, having = self.clause_condition(i, "having", default_tables)
        i, order = self.order_by(i, default_tables)
        limit = None
        if i < len(toks) and toks[i] == "limit":
            _check(i + 1 < len(toks), "LIMIT without a value")  # the official reader looks at it...
            limit, i = 1, i + 2  # ...but never keeps the number
        i = self._skip_semicolons(i)
        if block:
            _check(toks[i] == ")", "expected ')' after a query")
            i += 1
        i = self._skip_semicolons(i)
        parts: dict[str, OfficialSql | None] = dict.fromkeys(SQL_OPS)
        if i < len(toks) and toks[i] in SQL_OPS:
            op = toks[i]
            i, parts[op] = self.sql(i + 1)
        query = OfficialSql(select, units, from_conds, where, group, having, order, limit, parts["intersect"], parts["except"], parts["union"])
        return i, query

    def _skip_semicolons(self, i: int) -> int:
        while i < len(self.toks) and self.toks[i] == ";":
            i += 1
        return i
