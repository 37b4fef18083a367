"""The whole pipeline in process (`stages.run_all`, what `t2sql materialize` runs) with a training that
beats its base: the gate passes, and the adapter is registered and promoted in a real MLflow registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from t2sql_pipeline.core.settings import load_settings
from t2sql_pipeline.core.stages import RunContext, run_all
from tests.conftest import QUICK_DEMO


@pytest.mark.slow
def test_the_gate_passes_and_the_first_adapter_becomes_champion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"T2SQL_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
        monkeypatch.setenv(key, value)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = load_settings("demo", list(QUICK_DEMO))
    result = run_all(RunContext(settings, tmp_path / "artifacts" / settings.experiment.name / "gate", tracking_uri, log=lambda _m: None))

    assert result.report.adapter.execution_accuracy > result.report.base.execution_accuracy
    assert result.gate_passed and "beats its base model" in result.gate_reason
    registration = result.registration
    assert registration is not None and registration.promoted and registration.registered_version == "1"
    assert set(registration.aliases) == {"candidate", "champion"} and Path(registration.path).is_file()
    version = MlflowClient(tracking_uri).get_model_version_by_alias(settings.registered_model_name, "champion")
    assert str(version.version) == "1" and version.run_id == result.adapter.mlflow_run_id
    assert float(version.tags["execution_accuracy"]) == pytest.approx(result.report.adapter.execution_accuracy, abs=1e-4)
