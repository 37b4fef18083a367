"""The execution reward for GRPO: each completion's SQL runs read-only and is scored against the gold result.

Defaults follow Arctic-Text2SQL-R1: 1 when the result matches the gold's (the evaluator's Spider
comparison), 0.1 when the SQL runs but answers differently, 0 when it fails, is refused (any write)
or times out. `partial_credit` adds a dense term for SQL that runs (Think2SQL: small models need
it): `runs + (match - runs) * F1` of the result rows against the gold rows.

>>> row_f1(((1, "a"), (2, "b")), (("a", 1), (3, "c")))  # rows compared as bags, values in any column order
0.5
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.sql.execution import ExecLimits, ExecResult, execute_readonly
from t2sql_pipeline.core.sql.extraction import extract_sql
from t2sql_pipeline.core.sql.result_match import order_matters, spider_rows_match

Rows = tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class RewardWeights:
    """Reward for each outcome of a completion (settings `rl.reward`)."""

    match: float = 1.0
    runs: float = 0.1
    error: float = 0.0
    partial_credit: bool = False


def _row_key(row: Sequence[Any]) -> tuple[str, ...]:
    return tuple(sorted(repr(value) for value in row))


def row_f1(gold: Rows, pred: Rows) -> float:
    """F1 of the predicted rows against the gold rows, as bags, each row's values in any order."""
    if not gold and not pred:
        return 1.0
    gold_bag, pred_bag = Counter(map(_row_key, gold)), Counter(map(_row_key, pred))
    overlap = sum((gold_bag & pred_bag).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred_bag.values()), overlap / sum(gold_bag.values())
    return 2 * precision * recall / (precision + recall)


class ExecutionReward:
    """A GRPO reward function: `reward(prompts, completions, gold_sql, db_path, **kwargs) -> list[float]`.

    Only databases in `allowed_databases` (the training split's) are ever opened: a row from any
    other database is a bug and raises. Gold results are computed once per (database, SQL).
    With TRL's `log_metric`, it logs the share of completions that match and that run.
    """

    __name__ = "execution_reward"  # TRL names the reward's curves after it

    def __init__(self, weights: RewardWeights, limits: ExecLimits, allowed_databases: Collection[str],
                 run: Callable[[Path, str, ExecLimits], ExecResult] = execute_readonly) -> None:  # fmt: skip
        self.weights = weights
        self.limits = limits
        self.allowed = frozenset(str(Path(p)) for p in allowed_databases)
        self._run = run
        self._gold: dict[tuple[str, str], ExecResult] = {}

    def score(self, completion: str, gold_sql: str, db_path: str) -> tuple[float, bool, bool]:
        """(reward, matched, ran) of one completion."""
        if str(Path(db_path)) not in self.allowed:
            raise ValueError(f"reward asked to execute on {db_path}, which is not a training-split database")
        gold = self._gold.get((db_path, gold_sql))
        if gold is None:
            gold = self._gold[(db_path, gold_sql)] = self._run(Path(db_path), gold_sql, self.limits)
        if not gold.ok or gold.rows is None:
            raise ValueError(f"gold SQL fails on {db_path} ({gold.error}): {gold_sql[:200]!r}")
        sql = extract_sql(completion)
        result = self._run(Path(db_path), sql, self.limits) if sql else None
        if result is None or not result.ok or result.rows is None:
            return self.weights.error, False, False
        ordered = order_matters(gold_sql)
        if spider_rows_match(gold.rows, result.rows, order_matters=ordered):
            return self.weights.match, True, True
        w = self.weights
        if w.partial_credit:
            return w.runs + (w.match - w.runs) * row_f1(gold.rows, result.rows), False, True
        return w.runs, False, True

    def __call__(self, prompts: list[Any], completions: list[Any], gold_sql: list[str], db_path: list[str], **kwargs: Any) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]  # plain or conversational
        scored = [self.score(text, gold, db) for text, gold, db in zip(texts, gold_sql, db_path, strict=True)]
        log_metric = kwargs.get("log_metric")
        if log_metric is not None and scored:
            log_metric("execution_match_rate", sum(m for _, m, _ in scored) / len(scored))
            log_metric("executable_rate", sum(r for _, _, r in scored) / len(scored))
        return [reward for reward, _, _ in scored]
