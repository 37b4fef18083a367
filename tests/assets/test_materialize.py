"""The whole asset graph materialized through Dagster with a tiny configuration."""

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from t2sql_pipeline.definitions import all_asset_checks, all_assets, defs
from t2sql_pipeline.resources.manifest_io import ManifestIOManager
from t2sql_pipeline.resources.pipes_client import training_pipes_client
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource
from tests.conftest import TINY_PIPELINE

# A learning rate this small leaves the LoRA update at ~0, so the adapter answers exactly as its
# base (0% EX: random weights) and the blocking check must fail: registration must not run.
NO_LEARNING = [*TINY_PIPELINE, "training.learning_rate=1e-12"]


@pytest.mark.slow
def test_whole_graph_materializes_and_the_failed_gate_stops_registration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    monkeypatch.delenv("T2SQL_MLFLOW_UI_URL", raising=False)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = materialize(
        [*all_assets, *all_asset_checks],
        instance=DagsterInstance.ephemeral(),
        resources={
            "settings": PipelineSettingsResource.configure_at_launch(),
            "tracking": MlflowTrackingResource(tracking_uri=tracking_uri),
            "manifest_io": ManifestIOManager(base_dir=str(tmp_path / "manifests")),
            "pipes_subprocess_client": training_pipes_client(),
        },
        # Overrides arrive the way the Dagster launchpad sends them: as run config.
        run_config={"resources": {"settings": {"config": {"experiment": "demo", "overrides": NO_LEARNING}}}},
        raise_on_error=False,  # the blocking check fails by design
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {k.name for c in all_asset_checks for k in c.check_keys}
    assert all(c.passed for name, c in checks.items() if name != "beats_base_model")
    report = result.output_for_node("evaluation_report")
    assert report.adapter.n_questions == 12 and report.base.n_scored > 0
    assert report.adapter.execution_accuracy == report.base.execution_accuracy == 0.0
    predictions = [json.loads(line) for line in Path(report.predictions_path).read_text().splitlines()]
    assert {p["model"] for p in predictions} == {"base", "adapter"} and len(predictions) == 24
    by_model = {m: [p["predicted_sql"] for p in predictions if p["model"] == m] for m in ("base", "adapter")}
    assert by_model["base"] == by_model["adapter"]  # the update really was ~0

    # The gate: failed, with the reason, and nothing registered after it.
    gate = checks["beats_base_model"]
    assert not gate.passed and "does not beat its base model's 0.0%" in (gate.description or "")
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "evaluation_report" in materialized and "registered_adapter" not in materialized
    client = MlflowClient(tracking_uri)
    assert client.search_registered_models() == []

    run = client.get_run(report.mlflow_run_id)
    assert run.data.params["training.max_steps"] == "4"
    assert "adapter_execution_accuracy" in run.data.metrics
    assert len(client.get_metric_history(report.mlflow_run_id, "loss")) == 4  # one per logging step
    artifacts = {a.path for a in client.list_artifacts(report.mlflow_run_id)}
    assert {"adapter", "evaluation", "loss_curve.png"} <= artifacts

    # What the UI shows: metadata recorded on the materializations.
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert "strata" in metadata["stratified_sample"] and "report" in metadata["evaluation_report"]
    page = metadata["evaluation_report"]
    for level in report.adapter.per_level:
        assert f"| EX {level} |" in page["report"].value
    assert page["accuracy_chart"].value.startswith("![") and "(data:image/png;base64,iVBORw0KGgo" in page["loss_curve"].value
    experiment_id = run.info.experiment_id
    assert page["mlflow_run"].value == f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{report.mlflow_run_id}"
    assert "evaluation/accuracy_chart.png" in {a.path for a in client.list_artifacts(report.mlflow_run_id, "evaluation")}
    # EX and ROUGE-L-SQL while training: a row per evaluation step (eval_steps=2 of 4) on the lora_adapter page,
    # the same figures as the MLflow curves; completion rows on the report.
    by_step = metadata["lora_adapter"]["validation_by_step"].value.splitlines()
    assert by_step[0].startswith("| step | epoch | eval loss |") and [line.split("|")[1].strip() for line in by_step[2:]] == ["2", "4"]
    curve = {m.step: m.value for m in client.get_metric_history(report.mlflow_run_id, "eval_ex")}
    assert [f"{curve[step]:.1%}" for step in (2, 4)] == [line.split("|")[5].strip() for line in by_step[2:]]
    assert "| completion EX |" in page["report"].value and set(report.completion) == {"base", "adapter"}


def test_definitions_resources_are_the_ones_the_assets_need() -> None:
    assert set(defs.resources) == {"settings", "tracking", "manifest_io", "pipes_subprocess_client"}
