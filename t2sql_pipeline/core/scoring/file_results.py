"""What `t2sql evaluate` returns: one record per question, a summary, and their JSON and table forms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from t2sql_pipeline.core.sql.exact_match import ExactMatch
from t2sql_pipeline.core.sql.exact_scores import ExactLevel, exact_levels, levels_as_dict
from t2sql_pipeline.core.sql.ves import r_ves, ves

Semantics = Literal["spider", "bird"]
ERROR_KINDS = ("syntax", "runtime", "timeout", "missing_db", "gold_error")


@dataclass(frozen=True)
class QuestionResult:
    """One question's record in the report (`exec_match` None: not scored, see error_kind)."""

    index: int
    db_id: str
    exec_match: bool | None
    exact_match: bool | None  # official Spider exact-set match; None: no database (or unreadable gold)
    error_kind: str | None
    error: str | None
    hardness: str | None
    difficulty: str | None
    pred_seconds: float | None
    valid_sql: bool | None
    rouge_l: float | None
    hallucinated: tuple[str, ...] | None
    ves_ratio: float | None


@dataclass(frozen=True)
class LevelScore:
    """EX over the scored questions of one hardness (Spider) or difficulty (BIRD) level."""

    level: str
    count: int
    execution_accuracy: float | None


@dataclass(frozen=True)
class EvaluationSummary:
    """Run-level figures; rates are over the questions each metric applies to."""

    semantics: Semantics
    strict: bool
    timeout_s: float
    workers: int
    n_questions: int
    n_scored: int
    n_correct: int
    n_missing_db: int
    n_gold_errors: int
    execution_accuracy: float | None  # n_correct / n_scored; None when nothing could be scored
    errors: Mapping[str, int]
    levels: tuple[LevelScore, ...]
    valid_sql_rate: float | None
    exact_match: float | None  # official Spider exact-set match over the questions with a judgement
    exact_levels: tuple[ExactLevel, ...]  # per hardness and 'all': exact match and the official partial scores
    rouge_l: float | None
    hallucination_rate: float | None
    ves: float | None
    r_ves: float | None
    seconds: float


@dataclass(frozen=True)
class EvaluationResult:
    """Summary plus one record per question, in gold order."""

    summary: EvaluationSummary
    questions: tuple[QuestionResult, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-able: {"summary": {...}, "questions": [{...}, ...]}."""
        summary = {k: v for k, v in vars(self.summary).items() if k not in ("levels", "exact_levels")}
        summary["exact_levels"] = levels_as_dict(self.summary.exact_levels)
        summary["errors"] = dict(self.summary.errors)
        summary["levels"] = {s.level: {"count": s.count, "execution_accuracy": s.execution_accuracy} for s in self.summary.levels}
        questions = [{**vars(q), "hallucinated": _as_list(q.hallucinated)} for q in self.questions]
        return {"summary": summary, "questions": questions}

    def summary_table(self) -> str:
        """A readable multi-line summary (what `t2sql evaluate` prints)."""
        s = self.summary
        mode = "strict" if s.strict else "official quirks" if s.semantics == "spider" else "official"
        lines = [
            f"{s.semantics} execution evaluation ({mode}), timeout {s.timeout_s:g} s, {s.workers} workers",
            f"{'level':<14}{'count':>7}{'EX':>9}{'EM':>9}",
        ]
        exact = {level.level: level.exact for level in s.exact_levels}
        for level in (*s.levels, LevelScore("all", s.n_scored, s.execution_accuracy)):
            em = _pct(exact.get(level.level)) if s.semantics == "spider" else ""
            lines.append(f"{level.level:<14}{level.count:>7}{_pct(level.execution_accuracy):>9}{em:>9}")
        lines.append(f"questions {s.n_questions}, scored {s.n_scored}, correct {s.n_correct}, missing database {s.n_missing_db}, gold errors {s.n_gold_errors}")
        lines.append("errors: " + ", ".join(f"{kind} {count}" for kind, count in s.errors.items()))
        lines.append(
            f"valid SQL {_pct(s.valid_sql_rate)} (SQLite compiles it; of the {s.n_scored} questions with a database and working gold), "
            f"exact match {_pct(s.exact_match)} (official Spider exact-set match), "
            f"ROUGE-L {_pct(s.rouge_l)}, schema hallucination {_pct(s.hallucination_rate)}"
        )
        if s.ves is not None:
            lines.append(f"VES {s.ves:.2f}, R-VES {s.r_ves:.2f}")
        lines.append(f"time {s.seconds:.1f} s")
        return "\n".join(lines)


def _as_list(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


_LEVEL_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")


def summarize(
    questions: Sequence[QuestionResult],
    semantics: Semantics,
    strict: bool,
    timeout_s: float,
    workers: int,
    seconds: float,
    exact: Sequence[ExactMatch | None] = (),
) -> EvaluationSummary:
    exact = list(exact) or [None] * len(questions)
    scored = [q for q in questions if q.exec_match is not None]
    errors = {kind: sum(q.error_kind == kind for q in questions) for kind in ERROR_KINDS}
    by_level: dict[str, list[bool]] = {}
    for q in scored:
        level = q.hardness or q.difficulty
        if level is not None:
            by_level.setdefault(level, []).append(bool(q.exec_match))
    order = sorted(by_level, key=lambda lv: (_LEVEL_ORDER.index(lv) if lv in _LEVEL_ORDER else 99, lv))
    levels = tuple(LevelScore(lv, len(by_level[lv]), _mean(by_level[lv])) for lv in order)
    ves_ratios = [(q.ves_ratio or 0.0) if q.exec_match else 0.0 for q in scored]
    timed = any(q.ves_ratio is not None for q in scored)
    return EvaluationSummary(
        semantics=semantics,
        strict=strict,
        timeout_s=timeout_s,
        workers=workers,
        n_questions=len(questions),
        n_scored=len(scored),
        n_correct=sum(bool(q.exec_match) for q in scored),
        n_missing_db=errors["missing_db"],
        n_gold_errors=errors["gold_error"],
        execution_accuracy=_mean(q.exec_match for q in scored),
        errors=errors,
        levels=levels,
        valid_sql_rate=_mean(q.valid_sql for q in questions),
        exact_match=_mean(q.exact_match for q in questions),
        exact_levels=exact_levels((q.hardness, e) for q, e in zip(questions, exact, strict=True) if e is not None),
        rouge_l=_mean(q.rouge_l for q in questions),
        hallucination_rate=_mean(None if q.hallucinated is None else bool(q.hallucinated) for q in questions),
        ves=ves(ves_ratios) if timed else None,
        r_ves=r_ves(ves_ratios) if timed else None,
        seconds=seconds,
    )
