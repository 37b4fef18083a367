"""lora_adapter trains in a child process launched through Dagster Pipes: its progress lines reach the
run's event log, its reported metadata lands on the materialization, and the manifest comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetSpec, DagsterInstance, materialize
from mlflow import MlflowClient

from t2sql_pipeline.assets.model import lora_adapter
from t2sql_pipeline.resources.manifest_io import ManifestIOManager
from t2sql_pipeline.resources.pipes_client import training_pipes_client
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource
from tests.assets.tiny_training import make_tiny_upstream, store_manifest, training_processes

OVERRIDES = ["training.max_steps=4", "training.eval_steps=2", "training.logging_steps=1", "training.per_device_batch_size=4", "lora.dropout=0.0"]


@pytest.mark.slow
def test_lora_adapter_trains_through_pipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    splits, base = make_tiny_upstream(tmp_path)
    manifests = tmp_path / "manifests"
    store_manifest(manifests, "tokenized_splits", splits)
    store_manifest(manifests, "base_model", base)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    instance = DagsterInstance.ephemeral()
    result = materialize(
        # The upstream outputs are already stored: the IO manager reads them as sources.
        [lora_adapter, AssetSpec("tokenized_splits").with_io_manager_key("manifest_io"), AssetSpec("base_model").with_io_manager_key("manifest_io")],
        instance=instance,
        resources={
            "settings": PipelineSettingsResource(experiment="demo", overrides=OVERRIDES),
            "tracking": MlflowTrackingResource(tracking_uri=tracking_uri),
            "manifest_io": ManifestIOManager(base_dir=str(manifests)),
            "pipes_subprocess_client": training_pipes_client(),
        },
    )
    assert result.success
    manifest = result.output_for_node("lora_adapter")
    assert manifest.global_step == 4 and Path(manifest.path, "adapter_model.safetensors").is_file()
    stage = tmp_path / "home" / "artifacts" / "t2sql-demo" / result.run_id / "lora_adapter"
    assert Path(manifest.path) == stage / "adapter"

    # The child's progress lines (the ones `t2sql materialize` prints) arrive as Pipes logs in this run's event log.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("training a LoRA adapter on 20 examples" in m for m in messages)
    assert any(m.startswith("step 2: validation loss") for m in messages)

    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    # The manifest came as a Pipes message from the child, not as a file read back.
    assert not (stage / "adapter_manifest.json").exists() and "adapter_manifest" not in metadata
    assert metadata["num_processes"].value == 1
    assert metadata["global_step"].value == 4 and metadata["mlflow_run_id"].value == manifest.mlflow_run_id
    assert metadata["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")

    client = MlflowClient(tracking_uri)
    assert len(client.get_metric_history(manifest.mlflow_run_id, "loss")) == 4
    assert client.get_run(manifest.mlflow_run_id).info.status == "FINISHED"
    assert training_processes(str(stage / "training_request.json")) == []  # the child is gone
