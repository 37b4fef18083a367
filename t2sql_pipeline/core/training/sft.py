"""LoRA/QLoRA fine-tuning: small builders hand settings to PEFT and TRL's SFTTrainer (no hand-written loop).

Settings that need hardware this machine lacks (4-bit base, 8-bit/paged optimizers
without CUDA) are resolved once by `resolve_hardware`, which names each fallback.
Checkpoints live in a folder keyed by a hash of the training settings and the
input data, so a run killed mid-way resumes from its last complete checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.records import AdapterManifest
from t2sql_pipeline.core.run_folder import ADAPTER, LOG_HISTORY, LOSS_CURVE
from t2sql_pipeline.core.settings import LoraSettings, PipelineSettings
from t2sql_pipeline.core.training.hardware import HardwarePlan, resolve_hardware
from t2sql_pipeline.core.training.launch import world_size
from t2sql_pipeline.core.training.loss_curve import draw_loss_curve

if TYPE_CHECKING:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

MetricsSink = Callable[[dict[str, float], int], None]
logger = logging.getLogger(__name__)
TRAIN_COLUMNS = ["input_ids", "labels"]


def build_lora_config(lora: LoraSettings) -> LoraConfig:
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        modules_to_save=list(lora.modules_to_save) or None,
        bias=lora.bias,
        task_type="CAUSAL_LM",
    )


def build_sft_config(settings: PipelineSettings, output_dir: Path, plan: HardwarePlan | None = None) -> SFTConfig:
    from trl import SFTConfig

    t = settings.training
    plan = plan or resolve_hardware(settings)
    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_fraction,  # a float below 1 is a fraction of the total steps (transformers 5)
        weight_decay=t.weight_decay,
        optim=plan.optimizer,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        max_grad_norm=t.max_grad_norm,
        # transformers 5's names (`gradient_checkpointing*` are deprecated aliases); TRL defaults it on: always explicit.
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        logging_steps=t.logging_steps,
        eval_strategy=t.eval_strategy,
        eval_steps=t.eval_steps,
        save_strategy=t.save_strategy,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        report_to="none",
        seed=settings.experiment.seed,
        data_seed=settings.experiment.seed,
        bf16=plan.precision == "bf16",  # TRL defaults bf16 to True: on CPU its autocast is ~7x slower
        fp16=plan.precision == "fp16",
        use_cpu=plan.device == "cpu",  # the plan's device: the Trainer itself picks CUDA, else MPS, when allowed
        dataloader_pin_memory=plan.pin_memory,
        # Padding-free: each micro-batch is flattened into one row with restarting position_ids, so no pad
        # tokens are computed; the examples are already budgeted upstream, so no bin packing (which cuts) is needed.
        padding_free=plan.packing,
        packing=False,
        max_length=None,  # examples were budgeted and tokenized upstream; never cut here
        # Length-grouped batches: with padded batches of real prompts (median 244, p95 678 tokens on Spider dev)
        # random batches compute mostly padding; only useful without padding-free batches.
        train_sampling_strategy="group_by_length" if t.group_by_length and not plan.packing else "random",
        dataloader_num_workers=0,
        disable_tqdm=True,
        # Under torchrun (WORLD_SIZE > 1) the workers synchronise gradients over gloo on CPU (NCCL needs GPUs).
        ddp_backend="gloo" if world_size() > 1 and plan.device != "cuda" else None,
        ddp_find_unused_parameters=False if world_size() > 1 else None,  # every LoRA weight is used: skip the extra graph walk
    )


def checkpoint_key(settings: PipelineSettings, base_model_path: str, train_dataset: Dataset) -> str:
    """A stable hash of what determines the training trajectory: settings, base weights, training data."""
    digest = hashlib.sha256()
    relevant = {k: settings.model_dump(mode="json")[k] for k in ("model", "lora", "quantization", "training", "prompt")}
    relevant["seed"] = settings.experiment.seed
    digest.update(json.dumps(relevant, sort_keys=True).encode())
    for path in sorted(Path(base_model_path).glob("*")):
        if path.suffix == ".json":
            digest.update(path.name.encode() + path.read_bytes())
        elif path.suffix in {".safetensors", ".bin"}:
            # Size plus head and tail: hashing gigabytes of hub weights would cost seconds per run.
            with path.open("rb") as handle:
                head = handle.read(1 << 20)
                handle.seek(max(0, path.stat().st_size - (1 << 20)))
                digest.update(f"{path.name}:{path.stat().st_size}".encode() + head + handle.read())
    for batch in train_dataset.select_columns(TRAIN_COLUMNS).iter(batch_size=1024):
        digest.update(json.dumps(batch).encode())
    return digest.hexdigest()[:16]


def last_complete_checkpoint(checkpoint_dir: Path, log: Callable[[str], None] = logger.warning) -> Path | None:
    """The newest checkpoint whose every file was written; incomplete ones (a crash mid-save) are deleted.

    transformers 5 writes checkpoints in place (no temporary folder), adapter first and trainer_state.json last,
    so a readable state whose step matches the folder, with loadable adapter weights, marks a finished save.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    found = sorted(checkpoint_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]) if p.name.rsplit("-", 1)[1].isdigit() else -1)
    for candidate in reversed(found):
        try:
            state = json.loads((candidate / "trainer_state.json").read_text(encoding="utf-8"))
            load_file(str(candidate / "adapter_model.safetensors"))  # adapters are small: read every tensor
            complete = state["global_step"] == int(candidate.name.rsplit("-", 1)[1]) and all(
                (candidate / name).is_file() for name in ("optimizer.pt", "scheduler.pt")
            )
        except (OSError, ValueError, KeyError, SafetensorError) as error:
            complete, reason = False, f"{type(error).__name__}: {error}"
        else:
            reason = "missing optimizer/scheduler state or a step mismatch"
        if complete:
            return candidate
        log(f"skipping incomplete checkpoint {candidate} ({reason}); deleting it")
        shutil.rmtree(candidate, ignore_errors=True)
    return None


def train_adapter(
    base_model_path: str,
    train_dataset: Dataset,
    eval_dataset: Dataset,
    settings: PipelineSettings,
    output_dir: Path,
    metrics_sink: MetricsSink | None = None,
    checkpoint_dir: Path | None = None,
    log: Callable[[str], None] = logger.warning,
    mlflow_run_id: str = "",
    generation_metrics: Any = None,
) -> AdapterManifest:
    """Train a LoRA adapter on pre-tokenized `input_ids`/`labels`; save it to `output_dir/adapter`, with the
    step-by-step `log_history.json` and `loss_curve.png` beside it.

    Checkpoints go to `checkpoint_dir` (default `output_dir/checkpoints`); training resumes from the last
    complete one there, and the folder is removed after success so a rerun trains (and measures) afresh.
    `mlflow_run_id` is only recorded in the returned manifest (the caller tracks the run).
    `generation_metrics`: a callback that scores generated SQL at each evaluation step (its `history` lands
    in the manifest's `during_training`); built by the caller, since scoring belongs to the evaluation package.
    """
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from t2sql_pipeline.core.training.base_models import load_planned_base

    plan = resolve_hardware(settings)
    log(plan.summary())
    checkpoint_dir = checkpoint_dir or output_dir / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    resume = last_complete_checkpoint(checkpoint_dir, log)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_planned_base(base_model_path, settings, plan)
    trainer = SFTTrainer(
        model=model,
        args=build_sft_config(settings, checkpoint_dir, plan),
        train_dataset=train_dataset.select_columns(TRAIN_COLUMNS),
        eval_dataset=eval_dataset.select_columns(TRAIN_COLUMNS),
        processing_class=tokenizer,
        peft_config=build_lora_config(settings.lora),
        callbacks=[build_metrics_callback(metrics_sink), *([generation_metrics] if generation_metrics else [])],
    )
    trainer.remove_callback(PrinterCallback)  # metrics go to the sink (MLflow), not to stdout
    resumed_from = json.loads((resume / "trainer_state.json").read_text())["global_step"] if resume else 0
    if resume:
        log(f"resuming training from {resume} (step {resumed_from})")
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started
    final_eval = _final_evaluation(trainer, result.global_step)
    adapter_dir = output_dir / ADAPTER
    trainer.save_model(str(adapter_dir))  # the Trainer writes on the main process only
    trainable, total = trainer.model.get_nb_trainable_parameters()
    trainer.accelerator.wait_for_everyone()  # every rank has finished its last checkpoint write before rank 0 removes them
    history = [{k: float(v) for k, v in row.items() if isinstance(v, (int, float))} for row in trainer.state.log_history]
    curve = output_dir / LOSS_CURVE
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(adapter_dir))
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        (output_dir / LOG_HISTORY).write_text(json.dumps(history), encoding="utf-8")
        draw_loss_curve(history, curve)
    return AdapterManifest(
        path=str(adapter_dir),
        mlflow_run_id=mlflow_run_id,
        global_step=result.global_step,
        train_loss=float(result.training_loss),
        eval_loss=final_eval.get("eval_loss"),
        eval_token_accuracy=final_eval.get("eval_mean_token_accuracy"),
        trainable_parameters=int(trainable),
        total_parameters=int(total),
        seconds=seconds,
        loss_curve_path=str(curve),
        resumed_from_step=resumed_from,
        hardware_fallbacks=list(plan.fallbacks),
        during_training=[asdict(row) for row in getattr(generation_metrics, "history", [])],
    )


def build_metrics_callback(sink: MetricsSink | None) -> Any:
    """Forwards each log row (loss, learning_rate, grad_norm, eval_loss, eval_mean_token_accuracy, ...) plus
    tokens_per_second and, on CUDA, peak_memory_gib (absent on CPU) to `sink`."""
    import torch
    from transformers import TrainerCallback

    class _ForwardLogs(TrainerCallback):
        def __init__(self) -> None:
            self.last: tuple[float, float] | None = None  # (time, num_tokens) at the previous training log

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            numeric = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
            now = time.perf_counter()
            if "num_tokens" in numeric and "loss" in numeric:  # TRL counts tokens seen (cumulative) in training logs
                if self.last is not None and now > self.last[0]:
                    numeric["tokens_per_second"] = (numeric["num_tokens"] - self.last[1]) / (now - self.last[0])
                self.last = (now, numeric["num_tokens"])
                if torch.cuda.is_available():
                    numeric["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
                    torch.cuda.reset_peak_memory_stats()
            if sink and numeric:
                sink(numeric, state.global_step)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.last = None  # a resumed run restores the token count: measure from the first log on

    return _ForwardLogs()


def _final_evaluation(trainer: Any, global_step: int) -> dict[str, float]:
    """The validation metrics at the last step: reuse the evaluation training just ran there, else run one."""
    for row in reversed(trainer.state.log_history):
        if "eval_loss" in row:
            if row.get("step") == global_step:
                return row
            break
    return trainer.evaluate()
