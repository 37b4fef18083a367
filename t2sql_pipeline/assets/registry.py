"""Registry asset: the adapter registered in MLflow (pyfunc SQL model) and the champion decision."""

from dagster import AssetExecutionContext, MetadataValue, asset

from t2sql_pipeline.assets.context import run_context
from t2sql_pipeline.core import stages
from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, RegistrationManifest, ReportManifest, SplitsManifest
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource

GROUP = "registry"


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"mlflow"})
def registered_adapter(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    tokenized_splits: SplitsManifest,
    base_model: BaseModelManifest,
    rl_adapter: AdapterManifest,
    evaluation_report: ReportManifest,
) -> RegistrationManifest:
    """The adapter as a version of the MLflow registered model (the pyfunc SQL model), once `beats_base_model` passed;

    the promotion gate moves `@champion` to it when its EX reaches the champion's plus the margin.
    """
    registration = stages.registered_adapter(run_context(context, settings, tracking), tokenized_splits, base_model, rl_adapter, evaluation_report)
    context.add_output_metadata(
        {
            "mlflow_model_version": MetadataValue.url(tracking.model_version_url(registration.registered_model, registration.registered_version)),
            "registered_model": f"{registration.registered_model} v{registration.registered_version} ({', '.join(registration.aliases)})",
            "champion_promoted": registration.promoted,
            "champion_version": registration.champion_version or "",
            "promotion_reason": registration.promotion_reason,
            "mlflow_run_id": registration.mlflow_run_id,
            "registration_path": MetadataValue.path(registration.path),
        }
    )
    return registration
