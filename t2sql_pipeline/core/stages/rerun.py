"""Evaluate a finished run's adapter again with other generation settings, without training again.

Reads the run's own tokenized splits and adapter (the GRPO adapter when the run has one) from
its folder (`adapter_kind`), generates with the settings given (e.g. `generation.strategy=execution_vote`),
scores by execution, and compares per question with the run's own evaluation (paired McNemar)
when both scored the same split. Writes `predictions.jsonl` and `report.json` under
`<run>/evaluations/<name>/`; the run's own report is left as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from t2sql_pipeline.core.evaluation.model_evaluation import evaluate_model
from t2sql_pipeline.core.inference.loading import load_for_inference
from t2sql_pipeline.core.records import ModelScore
from t2sql_pipeline.core.run_folder import RunFolder
from t2sql_pipeline.core.scoring.significance import McNemarResult, mcnemar_exact
from t2sql_pipeline.core.settings import PipelineSettings


@dataclass(frozen=True)
class Reevaluation:
    adapter_path: str
    split: str
    score: ModelScore
    report_path: Path
    compared_with_run: McNemarResult | None  # vs the run's own adapter predictions (None: other split or size)
    run_execution_accuracy: float | None


def base_model_of_run(settings: PipelineSettings, run_dir: Path) -> str:
    """The local folder of the base model a finished run trained on (the demo keeps its own in the run)."""
    from t2sql_pipeline.core.state import models_dir
    from t2sql_pipeline.core.training.base_models import resolve_pretrained
    from t2sql_pipeline.core.training.gguf_models import resolve_gguf

    if settings.model.source == "demo":
        return str(RunFolder(run_dir).demo_base_model)
    if settings.model.source == "gguf":
        return str(resolve_gguf(settings.model, models_dir()))
    return resolve_pretrained(settings.model)


def reevaluate_run(settings: PipelineSettings, run_dir: Path, name: str, log: Callable[[str], None], adapter_kind: str = "final") -> Reevaluation:
    """Score the run's adapter on `evaluation.split` with these settings; see the module docstring.

    `adapter_kind`: "final" is the GRPO adapter when the run has one, else the SFT adapter; "sft" is always the SFT adapter.
    """
    from datasets import load_from_disk

    folder = RunFolder(run_dir)
    if not folder.tokenized_splits.is_dir():
        raise ValueError(f"{run_dir}: not a finished run's folder (no tokenized_splits/dataset)")
    if adapter_kind not in ("final", "sft"):
        raise ValueError(f"adapter {adapter_kind!r}: expected final or sft")
    candidates = [folder.sft_adapter] if adapter_kind == "sft" else [folder.rl_adapter, folder.sft_adapter]
    adapter = next((p for p in candidates if p.is_dir()), None)
    if adapter is None:
        raise ValueError(f"{run_dir}: the run has no trained adapter (lora_adapter/adapter)")
    out = folder.evaluation(name)
    if out.exists():
        raise ValueError(f"{out}: an evaluation of that name exists; choose another --name")
    split = settings.evaluation.split
    rows = load_from_disk(str(folder.tokenized_splits))[split].to_list()
    if settings.evaluation.max_examples:
        rows = rows[: settings.evaluation.max_examples]
    model, tokenizer = load_for_inference(base_model_of_run(settings, run_dir), str(adapter), settings)
    log(f"evaluating {adapter} on {len(rows)} {split} questions ({settings.generation.strategy}, {model.dtype} weights)")
    started = time.perf_counter()
    evaluation = evaluate_model("adapter", model, tokenizer, rows, settings, log=log)
    out.mkdir(parents=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for record in evaluation.records:
            handle.write(json.dumps({"model": "adapter", **asdict(record)}) + "\n")
    compared, run_ex = _compare_with_run(run_dir, split, [r.exec_match for r in evaluation.records], [r.example_id for r in evaluation.records])
    report = {
        "adapter": str(adapter),
        "split": split,
        "generation": settings.generation.model_dump(),
        "weights_dtype": str(model.dtype).removeprefix("torch."),
        "score": evaluation.score.model_dump(),
        "seconds": time.perf_counter() - started,
        "mcnemar_vs_run": asdict(compared) if compared else None,
        "run_execution_accuracy": run_ex,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return Reevaluation(str(adapter), split, evaluation.score, out / "report.json", compared, run_ex)


def _compare_with_run(run_dir: Path, split: str, matches: list[bool | None], example_ids: list[str]) -> tuple[McNemarResult | None, float | None]:
    """Paired with the run's own adapter predictions on the same questions (its report must be of `split`)."""
    report, predictions = RunFolder(run_dir).report, RunFolder(run_dir).predictions
    if not report.is_file() or not predictions.is_file() or json.loads(report.read_text()).get("evaluated_split", "test") != split:
        return None, None
    theirs = {}
    for line in predictions.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["model"] == "adapter":
            theirs[row["example_id"]] = row["exec_match"]
    pairs = [(theirs[e], m) for e, m in zip(example_ids, matches, strict=True) if e in theirs and theirs[e] is not None and m is not None]
    if not pairs:
        return None, None
    return mcnemar_exact([bool(a) for a, _ in pairs], [bool(b) for _, b in pairs]), sum(bool(a) for a, _ in pairs) / len(pairs)
