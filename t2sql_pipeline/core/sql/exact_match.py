"""The official Spider exact-set match of one prediction, with its partial scores.

Our implementation of the matching rules of taoyds/test-suite-sql-eval
(``evaluation.py``, etype ``match``, default flags), on the structure that
`official_parse.read_sql` produces:

1. the prediction's text gets ``replace("value", "1")`` (every occurrence, as
   the official script does); a prediction the official parser cannot read is
   matched as an empty query (no match);
2. values in FROM/WHERE/HAVING conditions are dropped (a nested query stays);
   DISTINCT is dropped from the top-level clauses; columns of the top-level FROM
   tables linked by a foreign key (tables.json) are replaced by one representative;
3. the clauses are compared as the official partial scores do (select, select
   without aggregation, where, where without operator, group without having,
   group, order, and/or, IUEN, keywords); exact match is all partial F1 = 1 and the
   same FROM tables. ON conditions are not compared; nested queries in conditions
   are compared as they were read (values, DISTINCT and table columns kept).

>>> schema = OfficialSchema.build({"t": ["a", "b"], "u": ["a", "t_a"]})
>>> exact_match("SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = 2", schema, {}).exact
True
>>> exact_match("SELECT a FROM t", "SELECT a AS x FROM t", schema, {}).exact  # an alias: unreadable
False
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.sql.official_parse import WHERE_OPS, Condition, OfficialParseError, OfficialSql, read_sql
from t2sql_pipeline.core.sql.official_schema import OfficialSchema

PARTIAL_TYPES = (
    "select",
    "select(no AGG)",
    "where",
    "where(no OP)",
    "group(no Having)",
    "group",
    "order",
    "and/or",
    "IUEN",
    "keywords",
)
ForeignKeyMap = Mapping[str, str]  # "__table.column__" -> the representative of its foreign-key group
EMPTY_SQL = OfficialSql((False, ()), (), (), (), (), (), (), None, None, None, None)


@dataclass(frozen=True)
class PartialScore:
    """One component's official score on one question (acc = rec = f1, each 0 or 1)."""

    f1: int
    label_total: int
    pred_total: int


@dataclass(frozen=True)
class ExactMatch:
    """The official exact-set match of one prediction and its partial scores."""

    exact: bool
    partial: Mapping[str, PartialScore]
    readable: bool  # False: the official parser cannot read the prediction


def foreign_key_maps(tables_json: Path) -> dict[str, dict[str, str]]:
    """Per db_id, the official foreign-key map built from a Spider tables.json."""
    return {entry["db_id"]: foreign_key_map(entry) for entry in json.loads(tables_json.read_text(encoding="utf-8"))}


def foreign_key_map(entry: Mapping[str, Any]) -> dict[str, str]:
    """Column id -> representative for one tables.json entry, grouped as the official script groups.

    A foreign-key pair joins the first group holding either column (groups are never
    merged), and each group maps to its column with the lowest index.
    """
    tables = entry["table_names_original"]
    ids = [f"__{tables[t].lower()}.{c.lower()}__" if t >= 0 else "__all__" for t, c in entry["column_names_original"]]
    groups: list[set[int]] = []
    for first, second in entry["foreign_keys"]:
        group = next((g for g in groups if first in g or second in g), None)
        if group is None:
            group = set()
            groups.append(group)
        group.update((first, second))
    mapping = {}
    for group in groups:
        lowest = min(group)
        mapping.update({ids[index]: ids[lowest] for index in group})
    return mapping


def read_official(sql: str, schema: OfficialSchema) -> OfficialSql | None:
    """The official reading of `sql`, or None where the official parser fails."""
    try:
        return read_sql(sql, schema)
    except OfficialParseError:
        return None


def exact_match(
    gold_sql: str | OfficialSql,
    pred_sql: str,
    schema: OfficialSchema,
    fk_map: ForeignKeyMap,
    *,
    label: OfficialSql | None = None,
) -> ExactMatch:
    """Official exact-set match of `pred_sql` against `gold_sql` (raises if the gold is unreadable).

    `gold_sql` may be given already read (`read_sql`), and `label` as its `normalize`d
    form, to read and normalize a gold query once.
    """
    gold = gold_sql if isinstance(gold_sql, OfficialSql) else read_sql(gold_sql, schema)
    pred = read_official(pred_sql.replace("value", "1"), schema)
    label = label or normalize(gold, schema, fk_map)
    try:
        guess = normalize(pred or EMPTY_SQL, schema, fk_map)
        partial = partial_scores(guess, label)
    except (ValueError, IndexError, TypeError):
        # Two conditions read with no AND/OR between them shift the official alternation;
        # the official script then crashes. We count such a reading as unreadable.
        pred, guess = None, normalize(EMPTY_SQL, schema, fk_map)
        partial = partial_scores(guess, label)
    return ExactMatch(_exact(guess, label, partial), partial, pred is not None)


def normalize(sql: OfficialSql, schema: OfficialSchema, fk_map: ForeignKeyMap) -> OfficialSql:
    """Values dropped, then DISTINCT dropped and foreign-key columns unified (official rebuild)."""
    prefixes = {unit[1][:-2] for unit in sql.table_units if unit[0] == "table_unit"}
    valid = {col for col in schema.id_map.values() if "." in col and col[: col.index(".")] in prefixes}
    return _rebuild_columns(_drop_values(sql), frozenset(valid), fk_map)


def _drop_values(sql: OfficialSql | None) -> OfficialSql | None:
    if sql is None:
        return None
    return replace(
        sql,
        from_conds=_drop_condition_values(sql.from_conds),
        having=_drop_condition_values(sql.having),
        where=_drop_condition_values(sql.where),
        intersect=_drop_values(sql.intersect),
        except_=_drop_values(sql.except_),
        union=_drop_values(sql.union),
    )


def _drop_condition_values(condition: Condition) -> Condition:
    def unit(cond: Any) -> Any:
        if cond is None:
            return None
        negated, op, val_unit, val1, val2 = cond
        keep = (v if isinstance(v, OfficialSql) else None for v in (val1, val2))
        return (negated, op, val_unit, *(_drop_values(v) for v in keep))

    return tuple(unit(item) if i % 2 == 0 else item for i, item in enumerate(condition))


def _rebuild_columns(sql: OfficialSql | None, valid: frozenset[str], fk_map: ForeignKeyMap) -> OfficialSql | None:
    if sql is None:
        return None

    def col(unit: Any) -> Any:
        if unit is None:
            return None
        agg, col_id, _distinct = unit
        if col_id in fk_map and col_id in valid:
            col_id = fk_map[col_id]
        return agg, col_id, None  # DISTINCT disabled

    def val(unit: Any) -> Any:
        return None if unit is None else (unit[0], col(unit[1]), col(unit[2]))

    def condition(cond: Condition) -> Condition:
        # Only the val_unit of each cond_unit: values (and nested queries) stay as they are.
        return tuple((c if c is None else (c[0], c[1], val(c[2]), c[3], c[4])) if i % 2 == 0 else c for i, c in enumerate(cond))

    order = sql.order_by and (sql.order_by[0], tuple(val(u) for u in sql.order_by[1]))
    return replace(
        sql,
        select=(None, tuple((agg, val(unit)) for agg, unit in sql.select[1])),
        from_conds=condition(sql.from_conds),
        where=condition(sql.where),
        group_by=tuple(col(u) for u in sql.group_by),
        order_by=order,
        having=condition(sql.having),
        intersect=_rebuild_columns(sql.intersect, valid, fk_map),
        except_=_rebuild_columns(sql.except_, valid, fk_map),
        union=_rebuild_columns(sql.union, valid, fk_map),
    )


def _score(count: int, pred_total: int, label_total: int) -> int:
    return int(pred_total == label_total and count == pred_total)


def _matched(pred: Iterable[Any], label: Sequence[Any]) -> int:
    """How many of `pred` find a still unmatched equal item in `label` (the official greedy count)."""
    remaining, count = list(label), 0
    for item in pred:
        if item in remaining:
            remaining.remove(item)
            count += 1
    return count


def partial_scores(pred: OfficialSql, label: OfficialSql) -> dict[str, PartialScore]:
    """The ten official partial scores of a normalized prediction against a normalized gold."""
    scores: dict[str, PartialScore] = {}

    def put(name: str, count: int, pred_total: int, label_total: int) -> None:
        scores[name] = PartialScore(_score(count, pred_total, label_total), label_total, pred_total)

    sel_p, sel_l = pred.select[1], label.select[1]
    put("select", _matched(sel_p, sel_l), len(sel_p), len(sel_l))
    put("select(no AGG)", _matched((u[1] for u in sel_p), [u[1] for u in sel_l]), len(sel_p), len(sel_l))
    where_p, where_l = pred.where[::2], label.where[::2]
    put("where", _matched(where_p, where_l), len(where_p), len(where_l))
    put("where(no OP)", _matched((u[2] for u in where_p), [u[2] for u in where_l]), len(where_p), len(where_l))
    group_p, group_l = [_column_name(u[1]) for u in pred.group_by], [_column_name(u[1]) for u in label.group_by]
    put("group(no Having)", _matched(group_p, group_l), len(group_p), len(group_l))
    having_p, having_l = int(bool(pred.group_by)), int(bool(label.group_by))
    same_having = [u[1] for u in pred.group_by] == [u[1] for u in label.group_by] and pred.having == label.having
    put("group", int(having_p == having_l == 1 and same_having), having_p, having_l)
    same_limit = (pred.limit is None) == (label.limit is None)
    order_p, order_l = int(bool(pred.order_by)), int(bool(label.order_by))
    put("order", int(bool(label.order_by) and pred.order_by == label.order_by and same_limit), order_p, order_l)
    ao_p, ao_l = set(pred.where[1::2]), set(label.where[1::2])
    # Quirk kept: when the sets differ the official code returns the two totals swapped.
    put("and/or", *((1, 1, 1) if ao_p == ao_l else (0, len(ao_l), len(ao_p))))
    totals = [_nested(p, g) for p, g in ((pred.intersect, label.intersect), (pred.except_, label.except_), (pred.union, label.union))]
    put("IUEN", sum(t[2] for t in totals), sum(t[1] for t in totals), sum(t[0] for t in totals))
    kw_p, kw_l = keywords(pred), keywords(label)
    put("keywords", len(kw_p & kw_l), len(kw_p), len(kw_l))
    return scores


def _column_name(col_id: str) -> str:
    # The official group comparison keeps what follows the first ".": "__t.c__" -> "c__".
    return col_id.split(".")[1] if "." in col_id else col_id


def _nested(pred: OfficialSql | None, label: OfficialSql | None) -> tuple[int, int, int]:
    """(label total, pred total, count) for one of INTERSECT / EXCEPT / UNION."""
    if pred is None or label is None:
        return int(label is not None), int(pred is not None), 0
    partial = partial_scores(pred, label)
    return 1, 1, int(_exact(pred, label, partial))


def keywords(sql: OfficialSql) -> set[str]:
    """The official keyword set of a query (its `get_keywords`)."""
    found = {
        name
        for name, present in (
            ("where", sql.where),
            ("group", sql.group_by),
            ("having", sql.having),
            ("order", sql.order_by),
            ("limit", sql.limit is not None),
            ("except", sql.except_ is not None),
            ("union", sql.union is not None),
            ("intersect", sql.intersect is not None),
        )
        if present
    }
    if sql.order_by:
        found.add(sql.order_by[0])
    conditions = (sql.from_conds, sql.where, sql.having)
    if any(token == "or" for cond in conditions for token in cond[1::2]):
        found.add("or")
    # Even positions are cond_units; the official indexing is kept for the odd lists it may read.
    units = [unit for cond in conditions for unit in cond[::2]]
    if any(unit[0] for unit in units):
        found.add("not")
    for op in ("in", "like"):
        if any(unit[1] == WHERE_OPS.index(op) for unit in units):
            found.add(op)
    return found


def _exact(pred: OfficialSql, label: OfficialSql, partial: Mapping[str, PartialScore]) -> bool:
    if any(score.f1 != 1 for score in partial.values()):
        return False
    # The official code compares the sorted lists of table units: a multiset comparison.
    return not label.table_units or Counter(map(repr, label.table_units)) == Counter(map(repr, pred.table_units))
