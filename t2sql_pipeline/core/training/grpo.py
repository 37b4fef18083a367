"""GRPO after SFT: TRL's `GRPOTrainer` continues the SFT adapter with the execution reward (no hand-written loop).

The SFT adapter is loaded trainable and TRL keeps a frozen copy of it as the KL reference
(`rl.beta` > 0), so the policy is pulled back towards the SFT model, not the raw base. Prompts are
the tokenized splits' own prompts (template applied), handed to TRL as text it re-tokenizes
unchanged; the reward executes on the training split's databases only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from t2sql_pipeline.core.records import AdapterManifest
from t2sql_pipeline.core.run_folder import ADAPTER, LOG_HISTORY, LOSS_CURVE
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.sql.execution import ExecLimits
from t2sql_pipeline.core.training.hardware import resolve_hardware
from t2sql_pipeline.core.training.loss_curve import draw_loss_curve
from t2sql_pipeline.core.training.rewards import ExecutionReward, RewardWeights
from t2sql_pipeline.core.training.sft import MetricsSink

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase
    from trl import GRPOConfig


def prompt_text(tokenizer: PreTrainedTokenizerBase, prompt_ids: list[int]) -> str:
    """The prompt as text that the tokenizer turns back into exactly `prompt_ids` (TRL re-tokenizes text prompts)."""
    text = tokenizer.decode(prompt_ids, skip_special_tokens=False)
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and tokenizer(text)["input_ids"] != prompt_ids:
        text = text[len(bos) :]  # the tokenizer adds its BOS itself
    if tokenizer(text)["input_ids"] != prompt_ids:
        raise ValueError("a prompt does not survive decoding and re-tokenizing; GRPO needs prompts it can hand to TRL as text")
    return text


def build_grpo_config(settings: PipelineSettings, output_dir: Path) -> GRPOConfig:
    from trl import GRPOConfig

    rl = settings.rl
    plan = resolve_hardware(settings)
    return GRPOConfig(
        output_dir=str(output_dir),
        learning_rate=rl.learning_rate,
        max_steps=rl.max_steps,
        per_device_train_batch_size=rl.per_device_batch_size,
        num_generations=rl.num_generations,
        max_completion_length=rl.max_completion_length,
        temperature=rl.temperature,
        beta=rl.beta,
        logging_steps=rl.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=settings.experiment.seed,
        bf16=plan.precision == "bf16",
        fp16=plan.precision == "fp16",
        use_cpu=plan.device == "cpu",  # as in SFT: the plan's device
        dataloader_pin_memory=plan.pin_memory,
        activation_checkpointing=False,  # TRL defaults it on; the adapter is small and CPU runs gain nothing from it
        disable_tqdm=True,
        log_completions=False,
    )


def train_grpo_adapter(
    base_model_path: str,
    sft_path: str,
    mlflow_run_id: str,
    train_dataset: Dataset,
    settings: PipelineSettings,
    output_dir: Path,
    metrics_sink: MetricsSink | None = None,
    log: Callable[[str], None] = print,
) -> AdapterManifest:
    """Continue the SFT adapter at `sft_path` with GRPO on the training split; save it to `output_dir/adapter` (its record says where it started)."""
    from peft import PeftModel
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOTrainer

    from t2sql_pipeline.core.training.base_models import load_planned_base
    from t2sql_pipeline.core.training.sft import build_metrics_callback

    rl = settings.rl
    tokenizer = AutoTokenizer.from_pretrained(sft_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = train_dataset.to_list()
    dataset = train_dataset.from_list(
        [{"prompt": prompt_text(tokenizer, row["prompt_ids"]), "gold_sql": row["gold_sql"], "db_path": row["db_path"]} for row in rows]
    )
    reward = ExecutionReward(
        RewardWeights(rl.reward.match, rl.reward.runs, rl.reward.error, rl.reward.partial_credit),
        ExecLimits(timeout_s=rl.reward.timeout_s),
        {row["db_path"] for row in rows},
    )
    plan = resolve_hardware(settings)
    base = load_planned_base(base_model_path, settings, plan)  # as SFT loaded it: 4-bit where planned, the attention setting
    model = PeftModel.from_pretrained(base, sft_path, is_trainable=True)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=build_grpo_config(settings, output_dir / "checkpoints"),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[build_metrics_callback(metrics_sink)],
    )
    trainer.remove_callback(PrinterCallback)  # as in SFT: metrics go to the sink (MLflow), not to stdout
    log(plan.summary())
    log(f"GRPO from the SFT adapter: {rl.max_steps} steps, {rl.num_generations} completions per prompt, reward {reward.weights}")
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    adapter_dir = output_dir / ADAPTER
    trainer.save_model(str(adapter_dir))
    tokenizer.save_pretrained(str(adapter_dir))
    history = [{k: float(v) for k, v in row.items() if isinstance(v, (int, float))} for row in trainer.state.log_history]
    (output_dir / LOG_HISTORY).write_text(json.dumps(history), encoding="utf-8")
    trainable, total = trainer.model.get_nb_trainable_parameters()
    return AdapterManifest(
        path=str(adapter_dir),
        mlflow_run_id=mlflow_run_id,
        global_step=result.global_step,
        train_loss=float(result.training_loss),
        eval_loss=None,
        eval_token_accuracy=None,
        trainable_parameters=int(trainable),
        total_parameters=int(total),
        seconds=seconds,
        loss_curve_path=str(draw_loss_curve(history, output_dir / LOSS_CURVE)),
        hardware_fallbacks=list(plan.fallbacks),
        starts_from=sft_path,
    )
