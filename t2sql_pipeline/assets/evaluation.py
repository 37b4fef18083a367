"""Evaluation asset: base model vs adapter by executing their SQL on the test databases, and the blocking gate after it."""

import base64
from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, MetadataValue, asset, asset_check

from t2sql_pipeline.assets.accelerator_tags import ACCELERATOR_OP_TAGS, ACCELERATOR_POOL
from t2sql_pipeline.assets.context import run_context
from t2sql_pipeline.core import stages
from t2sql_pipeline.core.evaluation.charts import ordered_levels
from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, ReportManifest, SplitsManifest
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource

GROUP = "evaluation"


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"sqlite", "mlflow"}, pool=ACCELERATOR_POOL, op_tags=ACCELERATOR_OP_TAGS)
def evaluation_report(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    tokenized_splits: SplitsManifest,
    base_model: BaseModelManifest,
    rl_adapter: AdapterManifest,
) -> ReportManifest:
    """Execution accuracy of the adapter and of its reference (the base model; for a GRPO adapter, its SFT
    adapter) on `evaluation.split`, greedy or execution-guided voting per `generation.strategy`, SQL executed
    read-only on the real databases; per-example results, the paired McNemar test and, with
    `evaluation.completion`, completion of the first half of each gold query.
    Its blocking check `beats_base_model` stands between it and `registered_adapter`.
    """
    report = stages.evaluation_report(run_context(context, settings, tracking), tokenized_splits, base_model, rl_adapter)
    context.add_output_metadata(
        {
            "base_execution_accuracy": report.base.execution_accuracy,
            "adapter_execution_accuracy": report.adapter.execution_accuracy,
            "test_questions": report.adapter.n_questions,
            "evaluated_split": report.evaluated_split,
            "mcnemar_p_value": report.mcnemar_p_value,
            "report": MetadataValue.md(report_table(report)),
            "accuracy_chart": MetadataValue.md(markdown_image("execution accuracy, base vs adapter", report.accuracy_chart_path)),
            "loss_curve": MetadataValue.md(markdown_image("loss curve", rl_adapter.loss_curve_path)),
            "mlflow_run": MetadataValue.url(tracking.run_url(report.mlflow_run_id)),
            "data_version": report.data_version,
            "code_version": report.code_version,
            "mlflow_run_id": report.mlflow_run_id,
            "report_path": MetadataValue.path(report.path),
            "predictions_path": MetadataValue.path(report.predictions_path),
            "accuracy_chart_path": MetadataValue.path(report.accuracy_chart_path),
        }
    )
    return report


def report_table(report: ReportManifest) -> str:
    """Markdown: one row per metric (EX overall, valid SQL, EX per `<source>/<difficulty>` level), base vs adapter."""
    rows = [("execution accuracy", report.base.execution_accuracy, report.adapter.execution_accuracy)]
    rows.append(("valid SQL", report.base.valid_sql_rate, report.adapter.valid_sql_rate))
    rows.append(("stops at end of turn", report.base.end_of_turn_rate, report.adapter.end_of_turn_rate))
    if {"base", "adapter"} <= report.completion.keys():  # evaluation.completion: the first half of each gold query given
        base_c, adapter_c = report.completion["base"], report.completion["adapter"]
        rows.append(("completion EX", base_c["execution_accuracy"], adapter_c["execution_accuracy"]))
        rows.append(("completion ROUGE-L-SQL F1", base_c["rouge_l_sql"], adapter_c["rouge_l_sql"]))
    # A level missing from one model's scores had no scored question: shown as a dash, not as 0%.
    rows += [(f"EX {level}", report.base.per_level.get(level), report.adapter.per_level.get(level)) for level in ordered_levels(report.base, report.adapter)]

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    header = f"| {report.adapter.n_questions} {report.evaluated_split} questions | {report.reference_model} | adapter |\n|---|---:|---:|\n"
    table = header + "\n".join(f"| {name} | {cell(base)} | {cell(adapter)} |" for name, base, adapter in rows)
    significance = (
        f"Paired exact McNemar test: {report.mcnemar_only_adapter} questions only the adapter answers, "
        f"{report.mcnemar_only_base} only the {report.reference_model}; p = {report.mcnemar_p_value:.3g}."
    )
    return f"{table}\n\n{significance}"


def markdown_image(alt: str, path: str) -> str:
    """The PNG embedded as a data URI: the UI shows it without access to the run's files."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(Path(path).read_bytes()).decode()})"


@asset_check(
    asset=evaluation_report, blocking=True, description="The adapter's execution accuracy beats its own base model's; registered_adapter runs only if it does."
)
def beats_base_model(evaluation_report: ReportManifest) -> AssetCheckResult:
    passed, reason = stages.beats_base_model(evaluation_report)
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=reason,
        metadata={
            "adapter_execution_accuracy": evaluation_report.adapter.execution_accuracy,
            "base_execution_accuracy": evaluation_report.base.execution_accuracy,
        },
    )
