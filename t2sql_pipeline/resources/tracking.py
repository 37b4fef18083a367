"""MLflow tracking location as a resource (the local SQLite store unless configured)."""

from __future__ import annotations

import os
from urllib.parse import quote

from dagster import ConfigurableResource
from pydantic import Field

from t2sql_pipeline.core.state import mlflow_tracking_uri

DEFAULT_UI_URL = "http://127.0.0.1:5000"  # what `make ui` starts


def mlflow_ui_url() -> str:
    return os.environ.get("T2SQL_MLFLOW_UI_URL") or DEFAULT_UI_URL


class MlflowTrackingResource(ConfigurableResource):
    """Where runs, metrics, artifacts and registered adapters go, and where people browse them."""

    tracking_uri: str = Field(default_factory=mlflow_tracking_uri, description="MLflow tracking URI")
    ui_url: str = Field(default_factory=mlflow_ui_url, description="Base URL of the MLflow UI for links in asset metadata (env T2SQL_MLFLOW_UI_URL)")

    def run_url(self, run_id: str) -> str:
        """The run's page in the MLflow UI (the experiment id is looked up in the tracking store)."""
        from mlflow import MlflowClient

        experiment_id = MlflowClient(self.tracking_uri).get_run(run_id).info.experiment_id
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_version_url(self, name: str, version: str) -> str:
        """A registered model version's page in the MLflow UI."""
        return f"{self.ui_url.rstrip('/')}/#/models/{quote(name, safe='')}/versions/{version}"
