"""The GRPO execution reward on crafted completions: match, runs but wrong, error, write attempt, timeout."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from t2sql_pipeline.core.sql.execution import ExecLimits, execute_readonly
from t2sql_pipeline.core.training.rewards import ExecutionReward, RewardWeights

GOLD = "SELECT name FROM singer WHERE country = 'FR'"
SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "singers.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE singer(id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INT);"
        "INSERT INTO singer VALUES (1, 'Ann', 'FR', 30), (2, 'Bob', 'US', 41), (3, 'Cy', 'FR', 25), (4, 'Di', 'DE', 50);"
    )
    conn.commit()
    conn.close()
    return path


def reward_for(db: Path, completions: list[str], weights: RewardWeights = RewardWeights(), timeout_s: float = 2.0) -> list[float]:
    reward = ExecutionReward(weights, ExecLimits(timeout_s=timeout_s), [str(db)])
    return reward(prompts=["q"] * len(completions), completions=completions, gold_sql=[GOLD] * len(completions), db_path=[str(db)] * len(completions))


def test_arctic_r1_defaults_on_each_outcome(db: Path) -> None:
    completions = [
        "SELECT name FROM singer WHERE country = 'FR';",  # match
        "```sql\nSELECT s.name FROM singer AS s WHERE s.age < 35\n```",  # same rows, other SQL: match
        "SELECT name FROM singer",  # runs, wrong
        "SELECT nam FROM singer",  # error
        "I don't know",  # no SQL at all
    ]
    assert reward_for(db, completions) == [1.0, 1.0, 0.1, 0.0, 0.0]


def test_a_write_attempt_earns_nothing_and_changes_nothing(db: Path) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    writes = ["DELETE FROM singer WHERE country != 'FR'", "DROP TABLE singer", "UPDATE singer SET country = 'FR'", "ATTACH DATABASE 'x.db' AS x"]
    assert reward_for(db, writes) == [0.0] * len(writes)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert len(execute_readonly(db, "SELECT * FROM singer").rows or ()) == 4


def test_a_runaway_query_is_cut_at_the_timeout_and_earns_nothing(db: Path) -> None:
    started = time.monotonic()
    assert reward_for(db, [SLOW], timeout_s=0.3) == [0.0]
    assert time.monotonic() - started < 1.5


def test_partial_credit_grows_with_the_overlap_of_rows(db: Path) -> None:
    weights = RewardWeights(partial_credit=True)
    half, none, all_rows = reward_for(db, ["SELECT name FROM singer WHERE id = 1", "SELECT name FROM singer WHERE id = 2", "SELECT name FROM singer"], weights)
    assert none == pytest.approx(0.1)  # runs, shares no row
    assert half == pytest.approx(0.1 + 0.9 * (2 * 1.0 * 0.5 / 1.5))  # precision 1, recall 1/2
    assert all_rows == pytest.approx(0.1 + 0.9 * (2 * 0.5 * 1.0 / 1.5))  # precision 1/2, recall 1
    assert reward_for(db, [GOLD, "SELECT x"], weights) == [1.0, 0.0]  # a match and an error are unchanged


def test_custom_values_and_logged_rates(db: Path) -> None:
    logged: dict[str, float] = {}
    reward = ExecutionReward(RewardWeights(match=2.0, runs=0.5, error=-1.0), ExecLimits(), [str(db)])
    values = reward(["q"] * 4, [GOLD, "SELECT 1", "nope", GOLD], gold_sql=[GOLD] * 4, db_path=[str(db)] * 4, log_metric=logged.__setitem__)
    assert values == [2.0, 0.5, -1.0, 2.0]
    assert logged == {"execution_match_rate": 0.5, "executable_rate": 0.75}


def test_only_training_databases_are_opened(db: Path, tmp_path: Path) -> None:
    reward = ExecutionReward(RewardWeights(), ExecLimits(), [str(tmp_path / "other.sqlite")])
    with pytest.raises(ValueError, match="not a training-split database"):
        reward(["q"], [GOLD], gold_sql=[GOLD], db_path=[str(db)])


def test_gold_runs_once_per_database_and_sql(db: Path) -> None:
    calls: list[str] = []

    def counting(path: Path, sql: str, limits: ExecLimits):  # type: ignore[no-untyped-def]
        calls.append(sql)
        return execute_readonly(path, sql, limits)

    reward = ExecutionReward(RewardWeights(), ExecLimits(), [str(db)], run=counting)
    reward(["q"] * 3, ["SELECT 1"] * 3, gold_sql=[GOLD] * 3, db_path=[str(db)] * 3)
    assert calls.count(GOLD) == 1 and len(calls) == 4


def test_conversational_completions_are_read_from_their_last_message(db: Path) -> None:
    reward = ExecutionReward(RewardWeights(), ExecLimits(), [str(db)])
    completion = [{"role": "assistant", "content": GOLD}]
    assert reward(["q"], [completion], gold_sql=[GOLD], db_path=[str(db)]) == [1.0]
