"""Evaluation asset: base model vs adapter, by executing their SQL on the test databases."""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, MetadataValue, asset, asset_check

from t2sql_pipeline.assets.context import run_context
from t2sql_pipeline.core import pipeline
from t2sql_pipeline.core.manifests import AdapterManifest, BaseModelManifest, ReportManifest, SplitsManifest
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource

GROUP = "evaluation"


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"sqlite", "mlflow"}, pool="accelerator")
def evaluation_report(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    tokenized_splits: SplitsManifest,
    base_model: BaseModelManifest,
    lora_adapter: AdapterManifest,
) -> ReportManifest:
    """Execution accuracy of the base model and of the fine-tuned adapter on the test split (greedy decoding,

    SQL executed read-only on the real databases), per-example results, and the adapter's registered version.
    """
    report = pipeline.evaluation_report(run_context(context, settings, tracking), tokenized_splits, base_model, lora_adapter)
    levels = sorted(set(report.base.per_level) | set(report.adapter.per_level))
    table = "| | base | adapter |\n|---|---:|---:|\n" + f"| execution accuracy | {report.base.execution_accuracy:.1%} | {report.adapter.execution_accuracy:.1%} |\n"
    table += f"| valid SQL | {report.base.valid_sql_rate:.1%} | {report.adapter.valid_sql_rate:.1%} |\n"
    table += "\n".join(f"| EX {level} | {report.base.per_level.get(level, 0):.1%} | {report.adapter.per_level.get(level, 0):.1%} |" for level in levels)
    context.add_output_metadata(
        {
            "base_execution_accuracy": report.base.execution_accuracy,
            "adapter_execution_accuracy": report.adapter.execution_accuracy,
            "test_questions": report.adapter.n_questions,
            "report": MetadataValue.md(table),
            "registered_model": f"{report.registered_model} v{report.registered_version} ({', '.join(report.aliases)})",
            "champion_promoted": report.promoted,
            "champion_version": report.champion_version or "",
            "promotion_reason": report.promotion_reason,
            "data_version": report.data_version,
            "code_version": report.code_version,
            "mlflow_run_id": report.mlflow_run_id,
            "report_path": MetadataValue.path(report.path),
            "predictions_path": MetadataValue.path(report.predictions_path),
        }
    )
    return report


@asset_check(asset=evaluation_report, blocking=True, description="The adapter's execution accuracy beats its own base model's on the test split.")
def beats_base_model(evaluation_report: ReportManifest) -> AssetCheckResult:
    adapter, base = evaluation_report.adapter.execution_accuracy, evaluation_report.base.execution_accuracy
    return AssetCheckResult(
        passed=adapter > base,
        severity=AssetCheckSeverity.ERROR,
        metadata={"adapter_execution_accuracy": adapter, "base_execution_accuracy": base, "promoted": evaluation_report.promoted},
    )
