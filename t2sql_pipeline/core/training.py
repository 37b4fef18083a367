"""LoRA fine-tuning: small builders hand settings to PEFT and TRL's SFTTrainer (no hand-written loop)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.settings import LoraSettings, PipelineSettings

if TYPE_CHECKING:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

MetricsSink = Callable[[dict[str, float], int], None]


@dataclass(frozen=True)
class TrainingOutcome:
    adapter_dir: str
    global_step: int
    train_loss: float
    eval_loss: float | None
    eval_token_accuracy: float | None
    trainable_parameters: int
    total_parameters: int
    seconds: float
    log_history: list[dict[str, float]] = field(default_factory=list)


def build_lora_config(lora: LoraSettings) -> LoraConfig:
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        modules_to_save=list(lora.modules_to_save) or None,
        bias="none",
        task_type="CAUSAL_LM",
    )


def resolve_precision(requested: str) -> str:
    """bf16 where the GPU supports it, else fp16 on CUDA, fp32 on CPU; an explicit choice is checked."""
    import torch

    if not torch.cuda.is_available():
        if requested in {"bf16", "fp16"}:
            raise ValueError(f"training.precision={requested} needs a CUDA GPU; use 'auto' or 'fp32' on CPU")
        return "fp32"
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


def build_sft_config(settings: PipelineSettings, output_dir: Path) -> SFTConfig:
    from trl import SFTConfig

    t = settings.training
    precision = resolve_precision(t.precision)
    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_fraction,  # a float below 1 is a fraction of the total steps (transformers 5)
        weight_decay=t.weight_decay,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        max_grad_norm=t.max_grad_norm,
        gradient_checkpointing=t.gradient_checkpointing,
        logging_steps=t.logging_steps,
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="no",
        report_to="none",
        seed=settings.experiment.seed,
        data_seed=settings.experiment.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=precision == "fp32",
        max_length=None,  # examples were budgeted and tokenized upstream; never cut here
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def train_adapter(
    base_model_path: str,
    train_dataset: Dataset,
    eval_dataset: Dataset,
    settings: PipelineSettings,
    output_dir: Path,
    metrics_sink: MetricsSink | None = None,
) -> TrainingOutcome:
    """Train a LoRA adapter on pre-tokenized `input_ids`/`labels`; save it to `output_dir/adapter`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    class _ForwardLogs(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            numeric = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
            if metrics_sink and numeric:
                metrics_sink(numeric, state.global_step)

    tokenizer = AutoTokenizer.from_pretrained(base_model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base_model_path)
    columns = ["input_ids", "labels"]
    trainer = SFTTrainer(
        model=model,
        args=build_sft_config(settings, output_dir / "trainer"),
        train_dataset=train_dataset.select_columns(columns),
        eval_dataset=eval_dataset.select_columns(columns),
        processing_class=tokenizer,
        peft_config=build_lora_config(settings.lora),
        callbacks=[_ForwardLogs()],
    )
    trainer.remove_callback(PrinterCallback)  # metrics go to the sink (MLflow), not to stdout
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    final_eval = trainer.evaluate()
    adapter_dir = output_dir / "adapter"
    trainer.save_model(str(adapter_dir))
    tokenizer.save_pretrained(str(adapter_dir))
    trainable, total = trainer.model.get_nb_trainable_parameters()
    return TrainingOutcome(
        adapter_dir=str(adapter_dir),
        global_step=result.global_step,
        train_loss=float(result.training_loss),
        eval_loss=final_eval.get("eval_loss"),
        eval_token_accuracy=final_eval.get("eval_mean_token_accuracy"),
        trainable_parameters=int(trainable),
        total_parameters=int(total),
        seconds=seconds,
        log_history=[{k: float(v) for k, v in row.items() if isinstance(v, (int, float))} for row in trainer.state.log_history],
    )
