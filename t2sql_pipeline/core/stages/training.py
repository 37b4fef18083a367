"""Training stages: the LoRA adapter (SFT, in its own process or torchrun) and the optional GRPO adapter after it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from t2sql_pipeline.core.records import (
    AdapterManifest,
    BaseModelManifest,
    SplitsManifest,
)
from t2sql_pipeline.core.run_folder import LOSS_CURVE
from t2sql_pipeline.core.stages.context import RunContext

if TYPE_CHECKING:
    from datasets import Dataset


def lora_adapter(ctx: RunContext, splits: SplitsManifest, base: BaseModelManifest) -> AdapterManifest:
    """Train here, or with `training.num_processes` > 1 as that many torchrun workers (core.training.launch)."""
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

    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.training.checkpoint_lock import CheckpointLock
    from t2sql_pipeline.core.training.launch import interrupts_deferred, process_rank
    from t2sql_pipeline.core.training.progress import planned_steps, progress_line
    from t2sql_pipeline.core.training.sft import checkpoint_key, train_adapter

    data = load_from_disk(splits.path)
    # Keyed by settings + base weights + data, not by run: a rerun after a crash finds and resumes the checkpoints.
    checkpoints = ctx.folder.checkpoints / checkpoint_key(ctx.settings, base.path, data["train"])
    if process_rank() != 0:
        out = ctx.folder.stage("lora_adapter")  # rank 0 creates it; other ranks write nothing there
        train_adapter(base.path, data["train"], data["validation"], ctx.settings, out, checkpoint_dir=checkpoints, log=lambda _: None)
        return None
    out = ctx.stage_dir("lora_adapter")
    processes = ctx.settings.training.num_processes
    on = f" on {processes} processes" if processes > 1 else ""
    ctx.log(f"training a LoRA adapter on {len(data['train'])} examples ({ctx.settings.training.max_steps} max steps{on}); checkpoints in {checkpoints}")
    with (
        CheckpointLock(checkpoints, ctx.log),
        TrackedRun.start(ctx.tracking_uri, ctx.settings, run_name=ctx.run_dir.name, continue_run=run_to_continue(checkpoints, ctx.log)) as run,
    ):
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

    train = load_from_disk(splits.path)["train"]
    return continue_with_grpo(ctx, base.path, adapter.path, adapter.mlflow_run_id, train, ctx.stage_dir("rl_adapter"))


def continue_with_grpo(ctx: RunContext, base_path: str, sft_path: str, mlflow_run_id: str, train: Dataset, out: Path) -> AdapterManifest:
    """Train GRPO from the SFT adapter at `sft_path` into `out`; curves `rl/*` and the rl settings go to the SFT's MLflow run."""
    import json

    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.training.grpo import train_grpo_adapter

    with TrackedRun.resume(ctx.tracking_uri, mlflow_run_id) as run:
        # A tag, not params: the run's rl.* params were logged when SFT started and MLflow refuses to change a param.
        run.client.set_tag(run.run_id, "rl_settings", json.dumps(ctx.settings.rl.model_dump(mode="json"), sort_keys=True))

        def record(metrics: dict[str, float], step: int) -> None:
            run.log_metrics({f"rl/{key}": value for key, value in metrics.items()}, step)  # beside, not over, the SFT curves
            if "reward" in metrics:
                ctx.log(f"GRPO step {step}/{ctx.settings.rl.max_steps}: reward {metrics['reward']:.3f}")

        manifest = train_grpo_adapter(base_path, sft_path, mlflow_run_id, train, ctx.settings, out, metrics_sink=record, log=ctx.log)
        run.log_artifacts(manifest.path, "rl_adapter")
        run.log_metrics({"rl/seconds": manifest.seconds}, manifest.global_step)
    return manifest


def rl_adapter_of_finished_run(ctx: RunContext) -> AdapterManifest:
    """GRPO on a finished run's SFT adapter (`t2sql rl-run`), without training SFT again; writes `<run>/rl_adapter/`.

    Trains into `rl_adapter.partial/` and renames it when done, so an interrupted training is never
    taken for a GRPO adapter (`t2sql evaluate-run` scores `rl_adapter/` when it is there).
    """
    import shutil

    from datasets import load_from_disk
    from mlflow import MlflowClient

    from t2sql_pipeline.core.stages.rerun import base_model_of_run

    splits, sft = ctx.folder.tokenized_splits, ctx.folder.sft_adapter
    if not ctx.run_dir.is_dir():
        raise ValueError(f"{ctx.run_dir}: no such run folder")
    if not splits.is_dir() or not sft.is_dir():
        raise ValueError(f"{ctx.run_dir}: not a finished run's folder (needs tokenized_splits/dataset and lora_adapter/adapter)")
    final = ctx.folder.stage("rl_adapter")
    if final.exists():
        raise ValueError(f"{final}: the run already has a GRPO adapter; move it away to train another")
    client = MlflowClient(ctx.tracking_uri)
    experiment = client.get_experiment_by_name(ctx.settings.experiment.name)
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id], f"tags.`mlflow.runName` = '{ctx.run_dir.name}'", max_results=2)
    if len(runs) != 1:
        raise ValueError(f"{ctx.tracking_uri}: {len(runs)} MLflow runs named {ctx.run_dir.name!r} in experiment {ctx.settings.experiment.name!r}, expected 1")
    partial = ctx.folder.stage("rl_adapter.partial")
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted rl-run left
    manifest = continue_with_grpo(
        ctx, base_model_of_run(ctx.settings, ctx.run_dir), str(sft), runs[0].info.run_id, load_from_disk(str(splits))["train"], partial
    )
    partial.rename(final)
    return manifest.model_copy(update={"path": str(ctx.folder.rl_adapter), "loss_curve_path": str(final / LOSS_CURVE)})
