"""`t2sql evaluate-run`: a finished run scored again without training; greedy reproduces the run, voting is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2sql_pipeline.cli import main
from tests.conftest import TINY_PIPELINE, RegisteredSqlModel


@pytest.fixture()
def home(registered_sql_model: RegisteredSqlModel, monkeypatch: pytest.MonkeyPatch) -> RegisteredSqlModel:
    for key, value in registered_sql_model.env().items():
        monkeypatch.setenv(key, value)
    return registered_sql_model


def run_args(*extra: str) -> list[str]:
    return ["evaluate-run", "--experiment", "demo", "--run", "fixture", *[a for o in TINY_PIPELINE for a in ("--set", o)], *extra]


@pytest.mark.slow
def test_greedy_again_reproduces_the_run_and_voting_keeps_its_counts(home: RegisteredSqlModel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args("--name", "again")) == 0
    out = capsys.readouterr().out
    assert "paired exact McNemar: 0 questions only this answers, 0 only the run's; p = 1" in out
    report = json.loads((home.run_dir / "evaluations" / "again" / "report.json").read_text())
    own = json.loads((home.run_dir / "evaluation_report" / "report.json").read_text())
    assert report["score"]["execution_accuracy"] == own["adapter"]["execution_accuracy"] == report["run_execution_accuracy"]

    assert main(run_args("--set", "generation.strategy=execution_vote", "--set", "generation.num_candidates=2", "--name", "vote")) == 0
    rows = [json.loads(line) for line in (home.run_dir / "evaluations" / "vote" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["vote_candidates"] == 2 and 0 <= r["vote_agreeing"] <= r["vote_executed"] <= 2 for r in rows)


def test_a_run_that_is_not_there_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    assert main(["evaluate-run", "--experiment", "demo", "--run", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"t2sql evaluate-run: error: {tmp_path}/artifacts/t2sql-demo/nope: no such run folder"]
