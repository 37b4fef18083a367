"""A real model on real prompts: the pipeline's training and generation against the plain way, side by side in one run.

Model: the base of the SmolLM2 experiment (`spider-dev_smollm2-135m_lora`, converted from its GGUF wheel);
examples: that experiment's own training and test splits (Spider dev, six held-out databases).

Training, each arm for `--seconds` of training (after its first step, which is not timed):
  pipeline          the pipeline's `train_adapter` path: pre-tokenized prompt/answer, length-grouped batches
                    of 4, the hardware plan's precision (`training.precision: auto`: bf16 autocast on a CPU with
                    bf16 units, else fp32), no gradient checkpointing
  trl_defaults      a plain TRL script as the notebooks write it: `SFTTrainer` on conversational
                    prompt/completion rows with `SFTConfig` defaults (batch 8, bf16, gradient checkpointing),
                    `use_cpu=True` being the only change, plus the same LoRA config
  trl_defaults_fp32 the same with `bf16=False` (bf16 autocast is slow on CPUs without bf16 units)
  bare              the floor under the pipeline: the same PEFT model, the same batches in the same order (the
                    pipeline trainer's own dataloader) and the same precision, but a bare loop of forward,
                    backward and `torch.optim.AdamW` step: no Trainer, no scheduler, no clipping, no logging
  pipeline_fp32, bare_fp32  those two arms with `training.precision=fp32` (fp32 against bf16 on one CPU)
Every arm runs at least `--min-steps` timed steps and at least `--seconds` seconds, whichever is longer.
Reported: tokens/s (answer and prompt tokens, no padding) and the time one epoch of the training split
would take at that rate.

Generation on the test prompts with the base model (greedy, `generation.max_new_tokens`): the
evaluation's batched `generate_answers` on `--prompts` prompts vs `model.generate` one prompt at a
time on the first `--single-prompts` of them (extrapolated, printed as such).

    python benchmarks/real_model_speed.py --run-dir .state/artifacts/t2sql-spider-dev-smollm2-135m/<run> --out speed.json
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
EXPERIMENT = "spider-dev_smollm2-135m_lora"


@dataclass(frozen=True)
class TrainingArm:
    arm: str
    batch_size: int
    steps_timed: int
    tokens_per_second: float
    epoch_tokens: int
    epoch_minutes: float  # at this rate


@dataclass(frozen=True)
class GenerationArm:
    arm: str
    prompts_timed: int
    seconds_timed: float
    seconds_per_question: float


def timing_callback(budget_s: float, min_steps: int) -> Any:
    """Records (time, tokens seen) at each step end; stops training once `budget_s` has passed since the first
    step and `min_steps` steps were timed."""
    from transformers import TrainerCallback

    class _Timing(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[tuple[float, float]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.marks.append((time.perf_counter(), float(state.num_input_tokens_seen)))
            if self.marks[-1][0] - self.marks[0][0] >= budget_s and len(self.marks) > min_steps:
                control.should_training_stop = True

        def rate(self) -> tuple[int, float]:
            (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
            return len(self.marks) - 1, (n1 - n0) / (t1 - t0)

    return _Timing()


def pipeline_trainer(model_path: str, train: Any, settings: Any, workdir: Path, callbacks: list[Any]) -> Any:
    """The SFTTrainer `train_adapter` builds (no evaluation, no checkpoints), with the timing callbacks."""
    from trl import SFTTrainer

    from t2sql_pipeline.core.training.base_models import load_base_for_training, load_tokenizer
    from t2sql_pipeline.core.training.hardware import resolve_hardware
    from t2sql_pipeline.core.training.sft import TRAIN_COLUMNS, build_lora_config, build_sft_config

    plan = resolve_hardware(settings)
    args = replace(
        build_sft_config(settings, workdir, plan), save_strategy="no", eval_strategy="no", max_steps=10_000, include_num_input_tokens_seen="non_padding"
    )
    return SFTTrainer(
        model=load_base_for_training(model_path, dtype=plan.compute_dtype, quantization=None, gradient_checkpointing=False, attention=plan.attention),
        args=args,
        train_dataset=train.select_columns(TRAIN_COLUMNS),
        processing_class=load_tokenizer(model_path),
        peft_config=build_lora_config(settings.lora),
        callbacks=callbacks,
    )


def train_pipeline(arm: str, model_path: str, train: Any, settings: Any, budget_s: float, min_steps: int, workdir: Path) -> TrainingArm:
    timing = timing_callback(budget_s, min_steps)
    pipeline_trainer(model_path, train, settings, workdir, [timing]).train()
    steps, rate = timing.rate()
    tokens = sum(len(ids) for ids in train["input_ids"])
    return TrainingArm(arm, settings.training.per_device_batch_size, steps, rate, tokens, tokens / rate / 60)


def train_bare(arm: str, model_path: str, train: Any, settings: Any, budget_s: float, min_steps: int, workdir: Path) -> TrainingArm:
    """Forward, backward and AdamW on the pipeline trainer's model and batches, under the plan's autocast; nothing else."""
    import torch

    from t2sql_pipeline.core.training.hardware import resolve_hardware

    plan = resolve_hardware(settings)
    trainer = pipeline_trainer(model_path, train, settings, workdir, [])
    model, batches = trainer.model, trainer.get_train_dataloader()
    model.train()
    t = settings.training
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=t.learning_rate, weight_decay=t.weight_decay)
    marks: list[tuple[float, int]] = []
    seen = 0
    for batch in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=plan.precision == "bf16"):
            loss = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        marks.append((time.perf_counter(), seen))
        if marks[-1][0] - marks[0][0] >= budget_s and len(marks) > min_steps:
            break
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    rate = (n1 - n0) / (t1 - t0)
    tokens = sum(len(ids) for ids in train["input_ids"])
    return TrainingArm(arm, t.per_device_batch_size, len(marks) - 1, rate, tokens, tokens / rate / 60)


def train_trl_defaults(model_path: str, train: Any, settings: Any, budget_s: float, min_steps: int, workdir: Path, *, bf16: bool) -> TrainingArm:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from t2sql_pipeline.core.training.tokenization import SYSTEM_PROMPT

    rows = Dataset.from_list(
        [
            {
                "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": message}],
                "completion": [{"role": "assistant", "content": sql}],
            }
            for message, sql in zip(train["message"], train["gold_sql"], strict=True)
        ]
    )
    args = SFTConfig(output_dir=str(workdir), use_cpu=True, report_to="none", max_steps=10_000, save_strategy="no", include_num_input_tokens_seen="non_padding")
    if not bf16:
        args = replace(args, bf16=False)
    timing = timing_callback(budget_s, min_steps)
    lora = settings.lora
    trainer = SFTTrainer(
        model=model_path,
        args=args,
        train_dataset=rows,
        peft_config=LoraConfig(r=lora.r, lora_alpha=lora.alpha, target_modules=lora.target_modules, task_type="CAUSAL_LM"),
        callbacks=[timing],
    )
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    trainer.train()
    steps, rate = timing.rate()
    return TrainingArm("trl_defaults" if bf16 else "trl_defaults_fp32", args.per_device_train_batch_size, steps, rate, tokens, tokens / rate / 60)


def generation_arms(model_path: str, prompts: list[list[int]], settings: Any, single_prompts: int) -> list[GenerationArm]:
    import torch

    from t2sql_pipeline.core.inference.generation import generate_answers
    from t2sql_pipeline.core.inference.loading import load_for_inference

    model, tokenizer = load_for_inference(model_path, None, settings)
    g = settings.generation
    generate_answers(model, tokenizer, prompts[:2], max_new_tokens=4, batch_size=2)  # warm-up
    started = time.perf_counter()
    generate_answers(model, tokenizer, prompts, max_new_tokens=g.max_new_tokens, batch_size=g.batch_size)
    batched = time.perf_counter() - started
    started = time.perf_counter()
    for ids in prompts[:single_prompts]:  # the plain loop: one `generate` call per question
        with torch.inference_mode():
            model.generate(input_ids=torch.tensor([ids]), max_new_tokens=g.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    single = time.perf_counter() - started
    return [
        GenerationArm(f"batched ({g.batch_size})", len(prompts), batched, batched / len(prompts)),
        GenerationArm("one at a time", single_prompts, single, single / single_prompts),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from datasets import load_from_disk

    from t2sql_pipeline.core.run_folder import RunFolder
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.state import models_dir
    from t2sql_pipeline.core.training.gguf_models import resolve_gguf
    from t2sql_pipeline.core.training.tokenization import user_message

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run of the SmolLM2 experiment (its sample and tokenized splits)")
    parser.add_argument("--experiment", default=EXPERIMENT)
    parser.add_argument("--seconds", type=float, default=90.0, help="training time per arm, after its first step")
    parser.add_argument("--min-steps", type=int, default=20, help="timed training steps per arm, at least")
    parser.add_argument("--prompts", type=int, default=64, help="test prompts generated in batches")
    parser.add_argument("--single-prompts", type=int, default=16, help="test prompts generated one at a time")
    parser.add_argument("--arms", default="pipeline,bare,trl_defaults")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    settings = load_settings(args.experiment)
    model_path = str(resolve_gguf(settings.model, models_dir()))  # converted once by the experiment's run: found, not redone
    data = load_from_disk(str(RunFolder(args.run_dir).tokenized_splits))
    examples = {e["example_id"]: e for e in _raw_examples(args.run_dir)}
    train = data["train"].map(lambda row: {"message": user_message(examples[row["example_id"]]["schema"], row["question"], None)})
    results: dict[str, Any] = {"model": model_path, "training": [], "generation": []}
    arms = {"pipeline": train_pipeline, "bare": train_bare}
    for arm in args.arms.split(","):
        with tempfile.TemporaryDirectory() as workdir:
            base_arm = arm.removesuffix("_fp32")
            if base_arm in arms:
                arm_settings = load_settings(args.experiment, ["training.precision=fp32"]) if arm.endswith("_fp32") else settings
                measured = arms[base_arm](arm, model_path, train, arm_settings, args.seconds, args.min_steps, Path(workdir))
            elif base_arm == "trl_defaults":
                measured = train_trl_defaults(model_path, train, settings, args.seconds, args.min_steps, Path(workdir), bf16=arm == "trl_defaults")
            else:
                parser.error(f"--arms: unknown arm {arm!r} (pipeline, bare, trl_defaults, each with an optional _fp32)")
        gc.collect()  # each arm's trainer holds its model, optimizer and activations: five arms at once ran out of 24 GiB
        results["training"].append(asdict(measured))
        print(
            f"training {measured.arm:18} batch {measured.batch_size}: {measured.tokens_per_second:6.1f} tokens/s over {measured.steps_timed} steps; "
            f"one epoch ({measured.epoch_tokens} tokens) {measured.epoch_minutes:.1f} min",
            flush=True,
        )
    prompts = data["test"]["prompt_ids"][: args.prompts]
    for measured in generation_arms(model_path, prompts, settings, args.single_prompts):
        results["generation"].append(asdict(measured))
        print(
            f"generation {measured.arm:14}: {measured.seconds_per_question:.2f} s/question ({measured.prompts_timed} questions, {measured.seconds_timed:.1f} s)",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return results


def _raw_examples(run_dir: Path) -> list[dict[str, Any]]:
    import pandas as pd

    from t2sql_pipeline.core.run_folder import RunFolder

    return pd.read_parquet(RunFolder(run_dir).sample_examples).to_dict(orient="records")


if __name__ == "__main__":
    main()
