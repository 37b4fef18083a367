"""The one place the Dagster Definitions are assembled."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from t2sql_pipeline.assets import data, evaluation, model, registry
from t2sql_pipeline.assets.data import split_checks, strata_shares_preserved
from t2sql_pipeline.assets.evaluation import beats_base_model
from t2sql_pipeline.orchestration import jobs, schedules, sensors
from t2sql_pipeline.resources.manifest_io import ManifestIOManager
from t2sql_pipeline.resources.pipes_client import RESOURCE_KEY as PIPES_CLIENT
from t2sql_pipeline.resources.pipes_client import training_pipes_client
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource

all_assets = load_assets_from_modules([data, model, evaluation, registry])
all_asset_checks = [strata_shares_preserved, split_checks, beats_base_model]

defs = Definitions(
    assets=all_assets,
    asset_checks=all_asset_checks,
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
    resources={
        "settings": PipelineSettingsResource(),
        "tracking": MlflowTrackingResource(),
        "manifest_io": ManifestIOManager(),
        PIPES_CLIENT: training_pipes_client(),  # launches training out of process
    },
)
