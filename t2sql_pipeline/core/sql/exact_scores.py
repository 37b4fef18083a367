"""Official exact match and partial scores per hardness level, as the official script reports them.

The rules of test-suite-sql-eval's ``evaluate``/``print_scores`` (etype ``match``):
per level (easy, medium, hard, extra, all) exact match is the share of questions
matched; for each partial type, accuracy averages the 0/1 score over questions
whose *prediction* has that component, recall over questions whose *gold* has
it, and F1 is 2·acc·rec/(acc+rec), or 1 when both are 0.

>>> from t2sql_pipeline.core.sql.exact_match import exact_match
>>> from t2sql_pipeline.core.sql.official_schema import OfficialSchema
>>> schema = OfficialSchema.build({"t": ["a", "b"]})
>>> right, wrong = (exact_match("SELECT a FROM t", p, schema, {}) for p in ("SELECT a FROM t", "SELECT b FROM t"))
>>> [(s.level, s.count, s.exact) for s in exact_levels([("easy", right), ("hard", wrong)])]
[('easy', 1, 1.0), ('medium', 0, None), ('hard', 1, 0.0), ('extra', 0, None), ('all', 2, 0.5)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from t2sql_pipeline.core.sql.exact_match import PARTIAL_TYPES, ExactMatch

LEVELS = ("easy", "medium", "hard", "extra", "all")


@dataclass(frozen=True)
class PartialRate:
    """One partial type over one level: accuracy, recall, F1 (official definitions)."""

    acc: float
    rec: float
    f1: float


@dataclass(frozen=True)
class ExactLevel:
    """Exact match and partial scores of one hardness level (None: no question at that level)."""

    level: str
    count: int
    exact: float | None
    partial: Mapping[str, PartialRate]


def exact_levels(results: Iterable[tuple[str | None, ExactMatch]]) -> tuple[ExactLevel, ...]:
    """Aggregate (hardness, result) pairs into the official per-level table; 'all' last.

    A question whose hardness is unknown counts in 'all' only.
    """
    by_level: dict[str, list[ExactMatch]] = {level: [] for level in LEVELS}
    for hardness, result in results:
        if hardness in by_level and hardness != "all":
            by_level[hardness].append(result)
        by_level["all"].append(result)
    return tuple(_level(level, by_level[level]) for level in LEVELS)


def _level(level: str, results: Sequence[ExactMatch]) -> ExactLevel:
    if not results:
        return ExactLevel(level, 0, None, {})
    partial = {}
    for name in PARTIAL_TYPES:
        scores = [r.partial[name] for r in results]
        acc = _average([s.f1 for s in scores if s.pred_total > 0])
        rec = _average([s.f1 for s in scores if s.label_total > 0])
        f1 = 1.0 if acc == 0 and rec == 0 else 2.0 * acc * rec / (acc + rec)
        partial[name] = PartialRate(acc, rec, f1)
    return ExactLevel(level, len(results), sum(r.exact for r in results) / len(results), partial)


def _average(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def official_table(levels: Sequence[ExactLevel]) -> str:
    """The exact and partial matching tables laid out as the official script prints them."""
    names = [level.level for level in levels]
    lines = [_row("", names, "{:20}"), _row("count", [level.count for level in levels], "{:<20d}")]
    lines += ["", "====================== EXACT MATCHING ACCURACY ====================="]
    lines.append(_row("exact match", [level.exact or 0.0 for level in levels], "{:<20.3f}"))
    for title, field in (
        ("\n---------------------PARTIAL MATCHING ACCURACY----------------------", "acc"),
        ("---------------------- PARTIAL MATCHING RECALL ----------------------", "rec"),
        ("---------------------- PARTIAL MATCHING F1 --------------------------", "f1"),
    ):
        lines.append(title)
        for name in PARTIAL_TYPES:
            values = [getattr(level.partial[name], field) if name in level.partial else 0.0 for level in levels]
            lines.append(_row(name, values, "{:<20.3f}"))
    return "\n".join(lines)


def _row(name: str, values: Sequence[object], element_format: str) -> str:
    return ("{:20} " + " ".join([element_format] * len(values))).format(name, *values)


def levels_as_dict(levels: Sequence[ExactLevel]) -> dict[str, dict[str, object]]:
    """JSON-able: {level: {"count", "exact_match", "partial": {type: {"acc", "rec", "f1"}}}}."""
    return {
        level.level: {
            "count": level.count,
            "exact_match": level.exact,
            "partial": {name: vars(rate) for name, rate in level.partial.items()},
        }
        for level in levels
    }
