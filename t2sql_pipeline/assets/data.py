"""Data assets: raw benchmark questions, the stratified sample, tokenized splits."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, MetadataValue, asset, asset_check, multi_asset_check

from t2sql_pipeline.assets.context import run_context
from t2sql_pipeline.core import stages
from t2sql_pipeline.core.data import checks as data_checks
from t2sql_pipeline.core.records import BaseModelManifest, RawDataManifest, SampleManifest, SplitsManifest
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource

GROUP = "data"


def _raw_metadata(manifest: RawDataManifest) -> dict[str, object]:
    return {
        "examples": manifest.n_examples,
        "databases": manifest.n_databases,
        "excluded": MetadataValue.json(manifest.excluded),
        "excluded_list": MetadataValue.path(manifest.excluded_path),
        "path": MetadataValue.path(manifest.path),
    }


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"parquet"})
def raw_spider(context: AssetExecutionContext, settings: PipelineSettingsResource, tracking: MlflowTrackingResource) -> RawDataManifest:
    """Spider-format questions with gold SQL, one normalized row each (source, db, question, SQL, hardness, schema).

    The schema is CREATE TABLE text, with `prompt.sample_values` values per column read from the database when set.

    Questions whose database is missing or whose gold SQL fails are excluded and listed, never dropped silently.
    """
    manifest = stages.raw_data(run_context(context, settings, tracking), "spider")
    context.add_output_metadata(_raw_metadata(manifest))
    return manifest


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"parquet"})
def raw_bird(context: AssetExecutionContext, settings: PipelineSettingsResource, tracking: MlflowTrackingResource) -> RawDataManifest:
    """BIRD-format questions with evidence, gold SQL and difficulty, in the same normalized schema as Spider."""
    manifest = stages.raw_data(run_context(context, settings, tracking), "bird")
    context.add_output_metadata(_raw_metadata(manifest))
    return manifest


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"parquet"})
def stratified_sample(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    raw_spider: RawDataManifest,
    raw_bird: RawDataManifest,
) -> SampleManifest:
    """A distribution-preserving sample: strata are source x difficulty x evidence-length bucket."""
    manifest = stages.sample(run_context(context, settings, tracking), [raw_spider, raw_bird])
    table = "| stratum | population | sample | share before | share after |\n|---|---:|---:|---:|---:|\n" + "\n".join(
        f"| {s.stratum} | {s.population} | {s.sample} | {s.population_share:.2%} | {s.sample_share:.2%} |" for s in manifest.strata
    )
    context.add_output_metadata(
        {
            "population": manifest.n_population,
            "sample": manifest.n_sample,
            "max_shift_pct_points": manifest.max_shift_pct_points,
            "strata": MetadataValue.md(table),
            "path": MetadataValue.path(manifest.path),
        }
    )
    return manifest


@asset_check(asset=stratified_sample, description="Every stratum's share moves by at most the configured tolerance.")
def strata_shares_preserved(stratified_sample: SampleManifest) -> AssetCheckResult:
    worst = max(stratified_sample.strata, key=lambda s: s.shift_pct_points)
    return AssetCheckResult(
        passed=stratified_sample.max_shift_pct_points <= stratified_sample.tolerance_pct_points,
        metadata={"max_shift_pct_points": stratified_sample.max_shift_pct_points, "worst_stratum": worst.stratum},
    )


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"huggingface"})
def tokenized_splits(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    stratified_sample: SampleManifest,
    base_model: BaseModelManifest,
) -> SplitsManifest:
    """Train / validation / test splits with no leakage, tokenized with the base model's tokenizer.

    Prompt tokens carry label -100, so only the SQL answer is learned. A prompt over
    `prompt.max_seq_length` loses its sample values, then the tables its gold SQL does not
    read; one that still does not fit is dropped. The table counts each step per split.
    """
    manifest = stages.tokenized_splits(run_context(context, settings, tracking), stratified_sample, base_model)
    table = (
        "| split | examples | databases | shrunk: values | shrunk: tables | dropped (too long) | min | median | p95 | max tokens |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    ) + "\n".join(
        f"| {name} | {s.examples} | {s.databases} | {s.shrunk_sample_values} | {s.shrunk_unreferenced_tables} | {s.dropped_too_long} "
        f"| {s.min_tokens} | {s.median_tokens} | {s.p95_tokens} | {s.max_tokens} |"
        for name, s in manifest.splits.items()
    )
    context.add_output_metadata(
        {
            "prompt_format": manifest.prompt_format,
            "splits": MetadataValue.md(table),
            "split_mode": manifest.mode,
            **{f"{name}_examples": s.examples for name, s in manifest.splits.items()},
            **{f"{name}_dropped_too_long": s.dropped_too_long for name, s in manifest.splits.items()},
            "path": MetadataValue.path(manifest.path),
        }
    )
    return manifest


# The checks below re-read the saved splits instead of trusting the manifest's own counts; one
# multi-asset check reads them once and reports the three checks separately.
SPLIT_CHECKS = [
    AssetCheckSpec("splits_share_no_database", asset="tokenized_splits", description="No database appears in two splits (when splitting by database)."),
    AssetCheckSpec(
        "splits_share_no_question", asset="tokenized_splits", description="No question+database pair (case and spacing ignored) appears in two splits."
    ),
    AssetCheckSpec("gold_sql_executes", asset="tokenized_splits", description="Every kept example's gold SQL executes (read-only) on its database."),
]
Rows = dict[str, list[dict[str, Any]]]


@multi_asset_check(specs=SPLIT_CHECKS)
def split_checks(tokenized_splits: SplitsManifest) -> Iterator[AssetCheckResult]:
    rows = data_checks.read_split_rows(tokenized_splits.path)
    yield no_shared_database(tokenized_splits, rows)
    yield no_shared_question(rows)
    yield gold_sql_runs(rows)


def no_shared_database(manifest: SplitsManifest, rows: Rows) -> AssetCheckResult:
    if manifest.mode != "by_database":
        return AssetCheckResult(check_name="splits_share_no_database", passed=True, metadata={"applies": False, "split_mode": manifest.mode})
    leaks = data_checks.shared_across_splits(rows, "database")
    return AssetCheckResult(
        check_name="splits_share_no_database",
        passed=not leaks,
        metadata={"applies": True, "shared_databases": len(leaks), "examples": MetadataValue.json([f"{leak.key} in {leak.splits}" for leak in leaks[:20]])},
    )


def no_shared_question(rows: Rows) -> AssetCheckResult:
    leaks = data_checks.shared_across_splits(rows, "question")
    return AssetCheckResult(
        check_name="splits_share_no_question",
        passed=not leaks,
        metadata={"shared_questions": len(leaks), "examples": MetadataValue.json([f"{leak.key} in {leak.splits}" for leak in leaks[:20]])},
    )


def gold_sql_runs(rows: Rows) -> AssetCheckResult:
    failures = data_checks.gold_failures(rows)
    return AssetCheckResult(
        check_name="gold_sql_executes",
        passed=not failures,
        metadata={
            "checked": sum(len(r) for r in rows.values()),
            "failing": len(failures),
            "examples": MetadataValue.json([f"{f.split} {f.example_id} ({f.db_id}): {f.error}" for f in failures[:20]]),
        },
    )
