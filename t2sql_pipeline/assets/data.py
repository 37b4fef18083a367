"""Data assets: raw benchmark questions, the stratified sample, tokenized splits."""

from dagster import AssetCheckResult, AssetExecutionContext, MetadataValue, asset, asset_check

from t2sql_pipeline.assets.context import run_context
from t2sql_pipeline.core import pipeline
from t2sql_pipeline.core.manifests import BaseModelManifest, RawDataManifest, SampleManifest, SplitsManifest
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

    Questions whose database is missing or whose gold SQL fails are excluded and listed, never dropped silently.
    """
    manifest = pipeline.raw_data(run_context(context, settings, tracking), "spider")
    context.add_output_metadata(_raw_metadata(manifest))
    return manifest


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"parquet"})
def raw_bird(context: AssetExecutionContext, settings: PipelineSettingsResource, tracking: MlflowTrackingResource) -> RawDataManifest:
    """BIRD-format questions with evidence, gold SQL and difficulty, in the same normalized schema as Spider."""
    manifest = pipeline.raw_data(run_context(context, settings, tracking), "bird")
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
    manifest = pipeline.sample(run_context(context, settings, tracking), [raw_spider, raw_bird])
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

    Prompt tokens carry label -100, so only the SQL answer is learned.
    """
    manifest = pipeline.tokenized_splits(run_context(context, settings, tracking), stratified_sample, base_model)
    table = "| split | examples | databases | too long | min | median | p95 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(
        f"| {name} | {s.examples} | {s.databases} | {s.dropped_too_long} | {s.min_tokens} | {s.median_tokens} | {s.p95_tokens} | {s.max_tokens} |"
        for name, s in manifest.splits.items()
    )
    context.add_output_metadata(
        {
            "prompt_format": manifest.prompt_format,
            "splits": MetadataValue.md(table),
            **{f"{name}_examples": s.examples for name, s in manifest.splits.items()},
            "path": MetadataValue.path(manifest.path),
        }
    )
    return manifest
