"""The pipeline's stages as plain functions: Dagster assets and `t2sql materialize` both call these.

Each stage takes the run context and its upstream records, writes its artifacts under
`ctx.run_dir / <stage>`, and returns its record (`core.records`). One module per stage
group; `run_all` runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, RegistrationManifest, ReportManifest, SplitsManifest
from t2sql_pipeline.core.stages.context import RunContext
from t2sql_pipeline.core.stages.data import base_model, describe_empty_sources, raw_data, sample, tokenized_splits
from t2sql_pipeline.core.stages.evaluation import beats_base_model, evaluation_report
from t2sql_pipeline.core.stages.registry import registered_adapter
from t2sql_pipeline.core.stages.training import MLFLOW_RUN_FILE, lora_adapter, rl_adapter, run_to_continue, train_lora_adapter

__all__ = [
    "MLFLOW_RUN_FILE", "PipelineResult", "RunContext", "base_model", "beats_base_model", "describe_empty_sources", "evaluation_report",
    "lora_adapter", "raw_data", "registered_adapter", "rl_adapter", "run_all", "run_to_continue", "sample", "tokenized_splits", "train_lora_adapter",
]  # fmt: skip


@dataclass(frozen=True)
class PipelineResult:
    """What `run_all` produced; `registration` is None when the gate `beats_base_model` failed."""

    splits: SplitsManifest
    base: BaseModelManifest
    adapter: AdapterManifest
    report: ReportManifest
    gate_passed: bool
    gate_reason: str
    registration: RegistrationManifest | None


def run_all(ctx: RunContext) -> PipelineResult:
    """Every stage in order, without Dagster (what `t2sql materialize` runs); a failed gate stops it before registration."""
    raws = [raw_data(ctx, "spider"), raw_data(ctx, "bird")]
    sampled = sample(ctx, raws)
    base = base_model(ctx, sampled)
    splits = tokenized_splits(ctx, sampled, base)
    adapter = rl_adapter(ctx, splits, base, lora_adapter(ctx, splits, base))
    report = evaluation_report(ctx, splits, base, adapter)
    passed, reason = beats_base_model(report)
    ctx.log(f"blocking check beats_base_model {'passed' if passed else 'failed'}: {reason}")
    registration = registered_adapter(ctx, splits, base, adapter, report) if passed else None
    return PipelineResult(splits, base, adapter, report, passed, reason, registration)
