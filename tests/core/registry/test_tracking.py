"""The MLflow run of a training: settings as params, also when a resumed training continues it with other settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2sql_pipeline.core.registry.tracking import TrackedRun
from t2sql_pipeline.core.settings import load_settings


def test_a_continued_run_keeps_its_params_and_names_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = load_settings("demo", ["evaluation.max_examples=0"])
    with TrackedRun.start(uri, first, run_name="r") as run:
        run.log_settings(first)
    again = load_settings("demo", ["evaluation.max_examples=8"])  # outside the checkpoint key: the training resumes
    messages: list[str] = []
    with TrackedRun.start(uri, again, run_name="r", continue_run=run.run_id) as continued:
        continued.log_settings(again, messages.append)  # MLflow would refuse to change the param: no exception here
    data = continued.client.get_run(run.run_id).data
    assert continued.run_id == run.run_id and data.params["evaluation.max_examples"] == "0"
    assert data.tags["t2sql.resumed_with.evaluation.max_examples"] == "8"
    assert messages == ["setting evaluation.max_examples changed since this run started (0 -> 8); the MLflow run keeps 0 as its param"]
