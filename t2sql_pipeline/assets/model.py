"""Model assets: the base checkpoint and the LoRA adapter trained on it."""

import base64
from pathlib import Path

from dagster import AssetExecutionContext, MetadataValue, Output, PipesSubprocessClient, asset

from t2sql_pipeline.assets.accelerator_tags import ACCELERATOR_OP_TAGS, ACCELERATOR_POOL
from t2sql_pipeline.assets.context import run_context
from t2sql_pipeline.core import stages
from t2sql_pipeline.core.evaluation.during_training import metrics_table
from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, SampleManifest, SplitsManifest
from t2sql_pipeline.core.training.launch import MARKER_ENV, request_for, training_command
from t2sql_pipeline.resources.settings import PipelineSettingsResource
from t2sql_pipeline.resources.tracking import MlflowTrackingResource
from t2sql_pipeline.training_process import MANIFEST_KEY

GROUP = "training"


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"huggingface"})
def base_model(
    context: AssetExecutionContext, settings: PipelineSettingsResource, tracking: MlflowTrackingResource, stratified_sample: SampleManifest
) -> BaseModelManifest:
    """The base checkpoint in Hugging Face layout: a hub model (≤3B), or the demo's small Llama built from a config

    with a BPE tokenizer trained on the sample's text.
    """
    manifest = stages.base_model(run_context(context, settings, tracking), stratified_sample)
    context.add_output_metadata(
        {
            "name": manifest.name,
            "parameters": manifest.parameters,
            "vocab_size": manifest.vocab_size,
            "chat_template": manifest.has_chat_template,
            "path": MetadataValue.path(manifest.path),
        }
    )
    return manifest


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"pytorch", "mlflow"}, pool=ACCELERATOR_POOL, op_tags=ACCELERATOR_OP_TAGS)
def lora_adapter(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    pipes_subprocess_client: PipesSubprocessClient,
    tokenized_splits: SplitsManifest,
    base_model: BaseModelManifest,
) -> Output[AdapterManifest]:
    """A LoRA adapter trained with TRL's SFTTrainer on the training split; curves and the adapter go to MLflow.

    At each evaluation step the model being trained also writes SQL for a fixed validation subset: its execution
    accuracy and ROUGE-L-SQL F1 are MLflow curves and the `validation_by_step` table here.

    Training runs in its own process (data-parallel torchrun workers when `training.num_processes` > 1),
    launched through Dagster Pipes: its progress arrives in this run's log, and terminating the run stops it.
    """
    ctx = run_context(context, settings, tracking)
    request_path, _ = request_for(ctx.settings, tokenized_splits, base_model, ctx.run_dir, ctx.tracking_uri)
    reported = pipes_subprocess_client.run(
        command=training_command(ctx.settings, request_path),
        context=context,
        env={MARKER_ENV: str(request_path)},
    ).get_materialize_result()
    metadata = dict(reported.metadata or {})
    if MANIFEST_KEY not in metadata:
        raise RuntimeError(f"the training process reported no {MANIFEST_KEY} (see its log above)")
    manifest = AdapterManifest.model_validate(metadata.pop(MANIFEST_KEY).value)
    curve = base64.b64encode(Path(manifest.loss_curve_path).read_bytes()).decode()
    # An Output, not a bare value: a Pipes session requires the step to return typed results.
    return Output(
        manifest,
        metadata={
            **metadata,
            "global_step": manifest.global_step,
            "train_loss": manifest.train_loss,
            "eval_loss": manifest.eval_loss,
            "eval_token_accuracy": manifest.eval_token_accuracy,
            "trainable_parameters": manifest.trainable_parameters,
            "train_seconds": manifest.seconds,
            "resumed_from_step": manifest.resumed_from_step,
            "hardware_fallbacks": MetadataValue.md("\n".join(f"- {f}" for f in manifest.hardware_fallbacks) or "none"),
            "mlflow_run_id": manifest.mlflow_run_id,
            "loss_curve": MetadataValue.md(f"![loss curve](data:image/png;base64,{curve})"),
            "validation_by_step": MetadataValue.md(
                metrics_table(manifest.during_training) if manifest.during_training else "off (evaluation.during_training_examples: 0)"
            ),
            "path": MetadataValue.path(manifest.path),
        },
    )


@asset(group_name=GROUP, io_manager_key="manifest_io", kinds={"pytorch", "mlflow"}, pool=ACCELERATOR_POOL, op_tags=ACCELERATOR_OP_TAGS)
def rl_adapter(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    tracking: MlflowTrackingResource,
    tokenized_splits: SplitsManifest,
    base_model: BaseModelManifest,
    lora_adapter: AdapterManifest,
) -> AdapterManifest:
    """GRPO after SFT (TRL's GRPOTrainer) with an execution reward on the training split's databases, when `rl.enabled`;

    otherwise the SFT adapter handed on unchanged. Reward, share of matches and of runnable SQL, KL and
    completion length go to the MLflow run as `rl/...` curves.
    """
    manifest = stages.rl_adapter(run_context(context, settings, tracking), tokenized_splits, base_model, lora_adapter)
    trained = manifest.starts_from is not None
    context.add_output_metadata(
        {
            "grpo": trained,
            "starts_from": manifest.starts_from or "",
            "global_step": manifest.global_step if trained else 0,
            "train_seconds": manifest.seconds if trained else 0.0,
            "path": MetadataValue.path(manifest.path),
        }
    )
    return manifest
