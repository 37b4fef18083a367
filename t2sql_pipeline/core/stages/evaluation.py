"""The evaluation stage and the gate after it (`beats_base_model`)."""

from __future__ import annotations

import json
from dataclasses import asdict

from t2sql_pipeline.core.records import (
    AdapterManifest,
    BaseModelManifest,
    ReportManifest,
    SplitsManifest,
)
from t2sql_pipeline.core.stages.context import RunContext


def evaluation_report(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest, adapter: AdapterManifest) -> ReportManifest:
    """Base model and adapter generate SQL for the evaluated split; both are scored by executing it."""
    from datasets import load_from_disk

    from t2sql_pipeline.core.evaluation.charts import accuracy_chart
    from t2sql_pipeline.core.evaluation.model_evaluation import evaluate_model
    from t2sql_pipeline.core.inference.loading import load_for_inference
    from t2sql_pipeline.core.provenance import code_version, rows_fingerprint
    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.scoring.significance import mcnemar_exact

    data = load_from_disk(splits.path)
    split = ctx.settings.evaluation.split
    rows = data[split].to_list()
    if ctx.settings.evaluation.max_examples:
        rows = rows[: ctx.settings.evaluation.max_examples]
    # A GRPO adapter is compared with the SFT adapter it started from, a first adapter with its base model.
    reference = "SFT adapter" if adapter.starts_from else "base model"
    evaluations, completions = [], []
    for label, adapter_path in (("base", adapter.starts_from), ("adapter", adapter.path)):
        model, tokenizer = load_for_inference(base.path, adapter_path, ctx.settings)
        if label == "base":
            ctx.log(f"generating with {model.dtype} weights (generation.precision={ctx.settings.generation.precision})")
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
    predictions_path = ctx.folder.predictions
    with predictions_path.open("w", encoding="utf-8") as handle:
        for evaluation in evaluations:
            for record in evaluation.records:
                handle.write(json.dumps({"model": evaluation.label, **asdict(record)}) + "\n")
    if completions:
        with ctx.folder.completions.open("w", encoding="utf-8") as handle:
            for score, records in completions:
                for completion in records:
                    handle.write(json.dumps({"model": score.label, **asdict(completion)}) + "\n")
    completion_scores = {score.label: {k: v for k, v in asdict(score).items() if k != "label"} for score, _ in completions}
    scores = {e.label: e.score for e in evaluations}
    paired = [
        (b.exec_match, a.exec_match)
        for b, a in zip(base_eval.records, adapter_eval.records, strict=True)
        if b.exec_match is not None and a.exec_match is not None
    ]
    mcnemar = mcnemar_exact([bool(b) for b, _ in paired], [bool(a) for _, a in paired])
    ctx.log(
        f"adapter vs base, exact McNemar test: {mcnemar.only_second} questions only the adapter answers, {mcnemar.only_first} only the base; p = {mcnemar.p_value:.3g}"
    )
    report_path = ctx.folder.report
    chart_path = accuracy_chart(scores["base"], scores["adapter"], out / "accuracy_chart.png")  # logged with the folder below
    provenance = {
        "data_version": rows_fingerprint(row for name in data for row in data[name].select_columns(["example_id", "db_id", "question", "gold_sql"])),
        "eval_split": rows_fingerprint(rows),
        "code_version": code_version(),
    }
    report_path.write_text(
        json.dumps(
            {
                **{k: v.model_dump() for k, v in scores.items()},
                "reference_model": reference,
                "evaluated_split": split,
                "mcnemar_adapter_vs_base": asdict(mcnemar),
                "completion": completion_scores,
                **provenance,
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
            run.log_metrics(
                {f"{label}_completion_execution_accuracy": figures["execution_accuracy"], f"{label}_completion_rouge_l_sql": figures["rouge_l_sql"]},
                adapter.global_step,
            )
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
    return (
        adapter > base,
        f"adapter execution accuracy {adapter:.1%} {verb} its {report.reference_model}'s {base:.1%} on {report.adapter.n_scored} {report.evaluated_split} questions",
    )
