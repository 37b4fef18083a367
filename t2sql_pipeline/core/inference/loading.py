"""Loading a base model, with its adapter, for generation."""

from __future__ import annotations

from typing import Any

from t2sql_pipeline.core.settings import PipelineSettings


def load_for_inference(base_path: str, adapter_path: str | None, settings: PipelineSettings | None = None) -> tuple[Any, Any]:
    """(model, tokenizer): the base model (4-bit when the settings train QLoRA on CUDA), with the adapter when given.

    A full-precision base gets the adapter merged into its weights (plain matmuls, faster generation);
    a 4-bit base keeps the PeftModel unmerged, since merging into quantized weights rounds the update away.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from t2sql_pipeline.core.training.base_models import build_quantization_config, load_tokenizer
    from t2sql_pipeline.core.training.hardware import resolve_hardware

    tokenizer = load_tokenizer(base_path, for_generation=True)
    plan = resolve_hardware(settings) if settings is not None else None
    quantization = build_quantization_config(settings.quantization, plan.compute_dtype) if settings and plan and plan.load_in_4bit else None
    model = AutoModelForCausalLM.from_pretrained(
        base_path,
        dtype=plan.compute_dtype if plan else "float32",
        quantization_config=quantization,
        device_map=plan.device if plan and plan.device != "cpu" else ("cuda" if plan is None and torch.cuda.is_available() else None),
    )
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, adapter_path)
        if quantization is None:
            model = model.merge_and_unload()
    return model, tokenizer
