"""MLflow tracking location as a resource (the local SQLite store unless configured)."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from t2sql_pipeline.core.state import mlflow_tracking_uri


class MlflowTrackingResource(ConfigurableResource):
    """Where runs, metrics, artifacts and registered adapters go."""

    tracking_uri: str = Field(default_factory=mlflow_tracking_uri, description="MLflow tracking URI")
