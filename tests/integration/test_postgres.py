"""The smoke pipeline on PostgreSQL: a Dagster instance from deploy/postgres/dagster.yaml and an
MLflow tracking server with a PostgreSQL backend and proxied artifacts; then everything read back."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, materialize
from mlflow import MlflowClient

from t2sql_pipeline.core.state import REPO_ROOT
from t2sql_pipeline.definitions import all_asset_checks, all_assets
from t2sql_pipeline.resources.manifest_io import ManifestIOManager
from t2sql_pipeline.resources.pipes_client import training_pipes_client
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource
from tests.conftest import QUICK_DEMO
from tests.integration.mlflow_server import tracking_server
from tests.integration.postgres_cluster import Cluster, find_bin_dir, throwaway_cluster

PG_DAGSTER_YAML = REPO_ROOT / "deploy" / "postgres" / "dagster.yaml"
BIN_DIR = find_bin_dir()

pytestmark = pytest.mark.skipif(BIN_DIR is None, reason="no PostgreSQL server binaries (initdb not on PATH nor in /usr/lib/postgresql/*/bin)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    assert BIN_DIR is not None
    with throwaway_cluster(BIN_DIR) as running:
        running.create_database("dagster")
        running.create_database("mlflow")
        yield running


def _instance(dagster_home: Path) -> DagsterInstance:
    return DagsterInstance.from_config(str(dagster_home))


@pytest.mark.slow
def test_smoke_pipeline_on_postgres(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path / "home"))
    for name, value in {"HOST": cluster.host, "PORT": str(cluster.port), "USER": cluster.user, "PASSWORD": cluster.password, "DB": "dagster"}.items():
        monkeypatch.setenv(f"T2SQL_PG_{name}", value)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(PG_DAGSTER_YAML, dagster_home / "dagster.yaml")  # what `make ui DAGSTER_CONFIG=...` does
    artifacts = tmp_path / "mlflow-artifacts"

    with tracking_server(cluster.url("mlflow"), artifacts, tmp_path) as server_uri:
        with _instance(dagster_home) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = materialize(
                [*all_assets, *all_asset_checks],
                instance=instance,
                resources={
                    "settings": PipelineSettingsResource.configure_at_launch(),
                    "tracking": MlflowTrackingResource(tracking_uri=server_uri),
                    "manifest_io": ManifestIOManager(base_dir=str(tmp_path / "manifests")),
                    "pipes_subprocess_client": training_pipes_client(),
                },
                # The quick demo's adapter beats its base, so the gate passes and registration runs.
                run_config={"resources": {"settings": {"config": {"experiment": "demo", "overrides": list(QUICK_DEMO)}}}},
            )
            assert result.success
            report = result.output_for_node("evaluation_report")
            registration = result.output_for_node("registered_adapter")

        # A new instance object: the run and its materializations were persisted in PostgreSQL.
        with _instance(dagster_home) as reread:
            run = reread.get_run_by_id(result.run_id)
            assert run is not None and run.status == DagsterRunStatus.SUCCESS
            for asset in ("raw_spider", "stratified_sample", "tokenized_splits", "lora_adapter", "evaluation_report", "registered_adapter"):
                event = reread.get_latest_materialization_event(AssetKey(asset))
                assert event is not None and event.run_id == result.run_id, asset
            stored = reread.get_latest_materialization_event(AssetKey("registered_adapter")).asset_materialization
            assert stored.metadata["promotion_reason"].value == registration.promotion_reason

        # MLflow through the server: params, metrics, registered version and aliases, proxied artifacts.
        client = MlflowClient(server_uri)
        mlflow_run = client.get_run(report.mlflow_run_id)
        assert mlflow_run.data.params["training.max_steps"] == "120"
        assert mlflow_run.data.metrics["adapter_execution_accuracy"] == pytest.approx(report.adapter.execution_accuracy)
        assert len(client.get_metric_history(report.mlflow_run_id, "loss")) == 120 // 10  # every logging step (demo: 10)
        assert mlflow_run.info.artifact_uri.startswith("mlflow-artifacts:"), mlflow_run.info.artifact_uri
        assert {"adapter", "evaluation", "loss_curve.png"} <= {a.path for a in client.list_artifacts(report.mlflow_run_id)}
        version = client.get_model_version("t2sql-demo", registration.registered_version)
        assert version.run_id == report.mlflow_run_id and not version.source.startswith(("file:", "/")), version.source
        assert set(client.get_registered_model("t2sql-demo").aliases) == set(registration.aliases) == {"candidate", "champion"}
        assert client.get_model_version_by_alias("t2sql-demo", "champion").version == registration.registered_version

    # The bytes went through the server into its destination, not into T2SQL_HOME's local artifact root.
    adapter_files = list(artifacts.rglob(f"{report.mlflow_run_id}/artifacts/adapter/*"))
    assert any(p.name == "adapter_config.json" for p in adapter_files), sorted(artifacts.rglob("*"))[:20]
    assert not (tmp_path / "home" / "mlartifacts").exists()
