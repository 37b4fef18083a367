"""The registration stage: the adapter that passed the gate, registered and offered to the champion gate."""

from __future__ import annotations

from t2sql_pipeline.core.records import (
    AdapterManifest,
    BaseModelManifest,
    RegistrationManifest,
    ReportManifest,
    SplitsManifest,
)
from t2sql_pipeline.core.stages.context import RunContext


def registered_adapter(
    ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest, adapter: AdapterManifest, report: ReportManifest
) -> RegistrationManifest:
    """Register the adapter (as the pyfunc SQL model) and let the promotion gate decide `@champion`; run after `beats_base_model` passed."""
    from t2sql_pipeline.core.registry.model_registry import CandidateScore
    from t2sql_pipeline.core.registry.tracking import ServedModelFiles, TrackedRun

    provenance = {"data_version": report.data_version, "eval_split": report.eval_split, "code_version": report.code_version}
    with TrackedRun.resume(ctx.tracking_uri, adapter.mlflow_run_id) as run:
        registration = run.register_adapter(
            ctx.settings.registered_model_name,
            tags={"base_model": base.name, "valid_sql_rate": f"{report.adapter.valid_sql_rate:.4f}", "experiment": ctx.settings.experiment.name, **provenance},
            score=CandidateScore(report.adapter.execution_accuracy, report.base.execution_accuracy, report.eval_split),
            margin=ctx.settings.registry.promotion_margin,
            served=ServedModelFiles(adapter.path, base.path, ctx.settings, splits.prompt_format),
        )
    decision = registration.decision
    ctx.log(f"registered v{registration.version.version}: {'promoted to champion' if decision.promote else 'champion unchanged'} ({decision.reason})")
    path = ctx.writes(ctx.folder.registration)
    manifest = RegistrationManifest(
        path=str(path),
        mlflow_run_id=adapter.mlflow_run_id,
        registered_model=registration.version.name,
        registered_version=registration.version.version,
        aliases=list(registration.version.aliases),
        promoted=decision.promote,
        promotion_reason=decision.reason,
        champion_version=registration.champion_version,
    )
    path.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    return manifest
