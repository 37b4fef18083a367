"""Where one pipeline training step's time goes: SFTTrainer's step, TRL's fused LM head and the model's own loss, on the same batches.

Builds the pipeline's trainer (as `benchmarks/real_model_speed.py` does) on a finished run's training split
and times, on its first length-grouped batches (one warm-up, then three), a forward and backward pass each
way and an AdamW step of the LoRA weights.

    python benchmarks/sft_step_profile.py .state/artifacts/t2sql-spider-train-smollm2-135m/<run> [experiment]
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> None:
    import torch
    from datasets import load_from_disk

    from benchmarks.real_model_speed import pipeline_trainer
    from t2sql_pipeline.core.run_folder import RunFolder
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.state import models_dir
    from t2sql_pipeline.core.training.gguf_models import resolve_gguf
    from t2sql_pipeline.core.training.hardware import resolve_hardware

    settings = load_settings(argv[1] if len(argv) > 1 else "spider-train_smollm2-135m_lora")
    bf16 = resolve_hardware(settings).precision == "bf16"
    model_path = str(resolve_gguf(settings.model, models_dir()))
    train = load_from_disk(str(RunFolder(Path(argv[0])).tokenized_splits))["train"]
    trainer = pipeline_trainer(model_path, train, settings, Path(tempfile.mkdtemp()), [])
    model = trainer.model
    batches = list(itertools.islice(trainer.get_train_dataloader(), 4))
    print("batches", [tuple(b["input_ids"].shape) for b in batches], "answer tokens", [int((b["labels"] != -100).sum()) for b in batches], flush=True)
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(); training_step reads it
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def timed(name: str, step: Callable[[dict[str, Any]], None]) -> None:
        step(batches[0])
        started = time.perf_counter()
        for batch in batches[1:]:
            step(batch)
        print(f"{name:40s} {(time.perf_counter() - started) / (len(batches) - 1):.2f} s", flush=True)

    def trainer_step(batch: dict[str, Any]) -> None:
        trainer.training_step(model, batch)
        model.zero_grad(set_to_none=True)

    def backward(batch: dict[str, Any], *, fused: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": batch["labels"]}
            if fused:  # what SFTTrainer.compute_loss asks for
                out = model(**inputs, fused_lm_head=True)
                loss = -out.log_probs.sum() / out.label_mask.sum()
            else:
                loss = model(**inputs).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    def adamw_step(_batch: dict[str, Any]) -> None:
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.zeros_like(p)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timed("SFTTrainer.training_step (fwd+bwd)", trainer_step)
    timed("fwd+bwd, the model's own loss", lambda b: backward(b, fused=False))
    timed("fwd+bwd through TRL's fused LM head", lambda b: backward(b, fused=True))
    timed("AdamW step", adamw_step)


if __name__ == "__main__":
    main(sys.argv[1:])
