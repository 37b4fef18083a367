"""Builds the core's RunContext from a Dagster asset context."""

from __future__ import annotations

from dagster import AssetExecutionContext

from t2sql_pipeline.core.stages import RunContext
from t2sql_pipeline.core.state import artifacts_dir
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource


def run_context(context: AssetExecutionContext, settings: PipelineSettingsResource, tracking: MlflowTrackingResource) -> RunContext:
    loaded = settings.load()
    run_dir = artifacts_dir() / loaded.experiment.name / context.run.run_id
    return RunContext(loaded, run_dir, tracking.tracking_uri, log=context.log.info)
