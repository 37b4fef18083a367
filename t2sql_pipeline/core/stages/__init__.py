"""The pipeline's stages as plain functions: Dagster assets and `t2sql materialize` both call these.

Each stage takes the run context and its upstream records, writes its artifacts under
`ctx.run_dir / <stage>`, and returns its record (`core.records`). One module per stage
group; `run_all` runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, RegistrationManifest, ReportManifest, SplitsManifest
from t2sql_pipeline.core.stages.context import RunContext
from t2sql_pipeline.core.stages.data import base_model, describe_empty_sources, raw_data, sample, tokenized_splits
from t2sql_pipeline.core.stages.evaluation import beats_base_model, evaluation_report
from t2sql_pipeline.core.stages.registry import registered_adapter
from t2sql_pipeline.core.stages.training import MLFLOW_RUN_FILE, lora_adapter, rl_adapter, run_to_continue, train_lora_adapter

__all__ = [
    "MLFLOW_RUN_FILE", "PipelineResult", "RunContext", "base_model", "beats_base_model", "describe_empty_sources", "evaluation_report",
    "ASSET_PARENTS", "SelectionError", "lora_adapter", "raw_data", "registered_adapter", "rl_adapter", "run_all", "run_selected",
    "run_to_continue", "sample", "select_assets", "tokenized_splits", "train_lora_adapter",
]  # fmt: skip

# The asset graph, in materialization order (the Dagster definitions have the same edges: tests/assets/test_definitions.py).
ASSET_PARENTS: dict[str, tuple[str, ...]] = {
    "raw_spider": (),
    "raw_bird": (),
    "stratified_sample": ("raw_spider", "raw_bird"),
    "base_model": ("stratified_sample",),
    "tokenized_splits": ("stratified_sample", "base_model"),
    "lora_adapter": ("tokenized_splits", "base_model"),
    "rl_adapter": ("lora_adapter", "tokenized_splits", "base_model"),
    "evaluation_report": ("tokenized_splits", "base_model", "rl_adapter"),
    "registered_adapter": ("evaluation_report", "tokenized_splits", "base_model", "rl_adapter"),
}


class SelectionError(ValueError):
    """A `--select` that names no asset, or leaves out an ancestor whose result this run would need."""


def select_assets(selection: str) -> list[str]:
    """`ASSET[,ASSET...]`, each optionally `+ASSET` (it and every ancestor), as Dagster writes selections; the assets
    in materialization order. Without a `+`, every ancestor must be selected too: a run keeps no results from another.

    >>> select_assets("+tokenized_splits")
    ['raw_spider', 'raw_bird', 'stratified_sample', 'base_model', 'tokenized_splits']
    """
    chosen: set[str] = set()
    for item in (part.strip() for part in selection.split(",")):
        name = item.removeprefix("+")
        if name not in ASSET_PARENTS:
            raise SelectionError(f"--select {item!r}: no such asset; the assets are {', '.join(ASSET_PARENTS)}")
        chosen |= _with_ancestors(name) if item.startswith("+") else {name}
    for name in chosen:
        missing = [parent for parent in ASSET_PARENTS[name] if parent not in chosen]
        if missing:
            raise SelectionError(f"--select: {name} needs {', '.join(missing)} from the same run; select +{name} to include its ancestors")
    return [name for name in ASSET_PARENTS if name in chosen]


def _with_ancestors(name: str) -> set[str]:
    found = {name}
    for parent in ASSET_PARENTS[name]:
        found |= _with_ancestors(parent)
    return found


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


def run_selected(ctx: RunContext, assets: list[str]) -> dict[str, Any]:
    """The selected assets (ancestors included: `select_assets`) in order; their records by name. Selecting
    `registered_adapter` is the whole pipeline with its gate (`run_all`, under the name "pipeline")."""
    if "registered_adapter" in assets:
        return {"pipeline": run_all(ctx)}
    stages: dict[str, Callable[[dict[str, Any]], Any]] = {
        "raw_spider": lambda _: raw_data(ctx, "spider"),
        "raw_bird": lambda _: raw_data(ctx, "bird"),
        "stratified_sample": lambda d: sample(ctx, [d["raw_spider"], d["raw_bird"]]),
        "base_model": lambda d: base_model(ctx, d["stratified_sample"]),
        "tokenized_splits": lambda d: tokenized_splits(ctx, d["stratified_sample"], d["base_model"]),
        "lora_adapter": lambda d: lora_adapter(ctx, d["tokenized_splits"], d["base_model"]),
        "rl_adapter": lambda d: rl_adapter(ctx, d["tokenized_splits"], d["base_model"], d["lora_adapter"]),
        "evaluation_report": lambda d: evaluation_report(ctx, d["tokenized_splits"], d["base_model"], d["rl_adapter"]),
    }
    done: dict[str, Any] = {}
    for name in assets:
        done[name] = stages[name](done)
    return done


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
