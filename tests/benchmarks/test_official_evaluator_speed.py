"""benchmarks/official_evaluator_speed.py: reading the official output, and a clean stop without the official code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import official_evaluator_speed as bench  # noqa: E402

GOLD = ["SELECT a FROM t\tdb", "SELECT b FROM t\tdb", "SELECT c FROM t\tdb"]
PREDS = ["SELECT a FROM t", "SELECT x FROM t WHERE y = value", "SELECT c FROM t"]


def test_misses_printed_by_the_official_script_are_placed_in_order() -> None:
    stdout = "\n".join(
        [
            "Evaluating 10th prediction",
            "easy pred: SELECT x FROM t WHERE y = 1",
            "easy gold: SELECT b FROM t",
            "",
            "                     easy                 medium",
        ]
    )
    assert bench.official_exact(stdout, GOLD, PREDS) == [True, False, True]


def test_a_miss_that_matches_no_question_fails_loudly() -> None:
    stdout = "easy pred: SELECT z FROM t\neasy gold: SELECT b FROM t\n"
    with pytest.raises(RuntimeError, match="could not align"):
        bench.official_exact(stdout, GOLD, PREDS)


def test_score_table_drops_execution_rows() -> None:
    official = (
        "x\n                     easy                 medium\ncount  1\n"
        "=====================   EXECUTION ACCURACY     =====================\nexecution  1.0\nexact match 1.0"
    )
    ours = "EX table\n                     easy                 medium\ncount  1\nexact match 1.0\nreport written to R.json"
    assert bench.score_table(official) == bench.score_table(ours)


def test_without_the_official_evaluator_nothing_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--official", str(REPO_ROOT / "no-such-checkout"), "--official-python", sys.executable]) == 2
    assert "nothing" in capsys.readouterr().err
