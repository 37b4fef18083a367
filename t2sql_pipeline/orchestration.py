"""When the pipeline runs: jobs, the retraining schedule, and sensors on raw data and promotions.

Schedule and job tags come from the `orchestration` settings of the experiment named by
`T2SQL_EXPERIMENT` (default `demo`), read when Dagster loads the definitions. Everything
here is cheap to import: no torch, no MLflow.
"""

from __future__ import annotations

import os

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_sensor,
    define_asset_job,
    sensor,
)

from t2sql_pipeline.core.data.version import raw_data_version
from t2sql_pipeline.core.settings import PipelineSettings, load_settings
from t2sql_pipeline.resources.settings import PipelineSettingsResource

MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds; enforced by run monitoring (dagster.yaml)

PREPARE_DATA_ASSETS = ("raw_spider", "raw_bird", "stratified_sample", "base_model", "tokenized_splits")
TRAIN_AND_EVALUATE_ASSETS = ("lora_adapter", "rl_adapter", "evaluation_report", "registered_adapter")


def definition_settings() -> PipelineSettings:
    """The settings the definitions are built from: the experiment in `T2SQL_EXPERIMENT` (default demo)."""
    return load_settings(os.environ.get("T2SQL_EXPERIMENT", "demo"))


_settings = definition_settings()
_tags = {MAX_RUNTIME_TAG: str(_settings.orchestration.max_runtime_s)}

full_pipeline = define_asset_job(
    "full_pipeline", selection=AssetSelection.all(), tags=_tags, description="Every asset, from raw data to the registered adapter."
)
prepare_data = define_asset_job(
    "prepare_data",
    selection=AssetSelection.assets(*PREPARE_DATA_ASSETS),
    tags=_tags,
    description="Raw questions, the stratified sample, the base checkpoint and the tokenized splits (no training).",
)
train_and_evaluate = define_asset_job(
    "train_and_evaluate",
    selection=AssetSelection.assets(*TRAIN_AND_EVALUATE_ASSETS),
    tags=_tags,
    description="Train the LoRA adapter on the current tokenized splits, then evaluate and register it.",
)

retrain_schedule = ScheduleDefinition(
    name="retrain_schedule",
    job=full_pipeline,
    cron_schedule=_settings.orchestration.retrain_cron,
    execution_timezone=_settings.orchestration.timezone,
    # Stopped until a user turns it on: every tick is hours of accelerator time.
    default_status=DefaultScheduleStatus.STOPPED,
    description="Retrains from raw data on orchestration.retrain_cron; registration promotes a better adapter to @champion.",
)


# Stopped by default, like the schedule: its first tick has no cursor and so requests a full
# retraining at once, which an engineer should choose rather than get by deploying the code.
@sensor(
    job=full_pipeline,
    minimum_interval_seconds=_settings.orchestration.data_sensor_interval_s,
    default_status=DefaultSensorStatus.STOPPED,
    description="Requests a full_pipeline run when the configured raw data's version (a content fingerprint) changes.",
)
def raw_data_changed(context: SensorEvaluationContext, settings: PipelineSettingsResource) -> SensorResult | SkipReason:
    version = raw_data_version(settings.load())
    if version == context.cursor:
        return SkipReason(f"raw data unchanged (version {version})")
    previous = context.cursor or "none"
    context.log.info(f"raw data version {previous} -> {version}: requesting full_pipeline")
    # run_key = the version: a re-evaluated tick never requests the same data twice.
    request = RunRequest(run_key=version, tags={"t2sql/raw_data_version": version})
    return SensorResult(run_requests=[request], cursor=version)


@asset_sensor(
    asset_key=AssetKey("registered_adapter"),
    # Running by default: it only reads the event log and writes a log line, never launches a run.
    default_status=DefaultSensorStatus.RUNNING,
    description="Reports each registered_adapter materialization that promoted a new @champion.",
)
def champion_promoted(context: SensorEvaluationContext, asset_event: EventLogEntry) -> SkipReason | None:
    materialization = asset_event.asset_materialization
    metadata = {key: value.value for key, value in (materialization.metadata if materialization else {}).items()}
    reason = metadata.get("promotion_reason", "no promotion_reason recorded")
    if metadata.get("champion_promoted") is not True:
        return SkipReason(f"registered_adapter (run {asset_event.run_id}) promoted no champion: {reason}")
    version = metadata.get("champion_version", "?")
    context.log.info(f"New champion: version {version} promoted by run {asset_event.run_id}: {reason}")
    return None


jobs = [full_pipeline, prepare_data, train_and_evaluate]
schedules = [retrain_schedule]
sensors = [raw_data_changed, champion_promoted]
