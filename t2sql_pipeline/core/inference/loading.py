"""Loading a base model, with its adapter, for generation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.settings import PipelineSettings

if TYPE_CHECKING:
    from t2sql_pipeline.core.training.hardware import HardwarePlan


def inference_dtype(requested: str, plan: HardwarePlan, *, bf16_units: bool | None = None, amx: bool | None = None) -> str:
    """The torch dtype name of the weights while generating (`generation.precision`).

    auto: bfloat16 on a CPU with AMX, where a prefill and a 64-row decode step of SmolLM2-135M ran 2.8x and
    2.6x faster than float32 (docs/benchmarks.md); float32 on other CPUs, AVX512-BF16 without AMX included
    (not measured for generation yet); off the CPU, the training plan's compute dtype. `bf16` asks for it on
    any CPU with bf16 units. `bf16_units` and `amx` fake torch's CPU probes in tests.

    >>> from t2sql_pipeline.core.training.hardware import HardwarePlan
    >>> inference_dtype("auto", HardwarePlan("fp32", "adamw_torch", False, "float32"), bf16_units=True, amx=True)
    'bfloat16'
    """
    from t2sql_pipeline.core.training.hardware import cpu_has_amx, cpu_has_bf16_units

    if requested == "fp32":
        return "float32"
    if plan.device != "cpu":
        return "bfloat16" if requested == "bf16" else plan.compute_dtype
    if requested == "bf16":
        if not (cpu_has_bf16_units() if bf16_units is None else bf16_units):
            raise ValueError(
                "generation.precision=bf16: this CPU has no bf16 units (AVX512-BF16 or AMX) and torch would emulate them slowly; use 'auto' or 'fp32'"
            )
        return "bfloat16"
    return "bfloat16" if (cpu_has_amx() if amx is None else amx) else "float32"


def load_for_inference(base_path: str, adapter_path: str | None, settings: PipelineSettings | None = None) -> tuple[Any, Any]:
    """(model, tokenizer): the base model (4-bit when the settings train QLoRA on CUDA), with the adapter when given.

    A full-precision base gets the adapter merged into its weights (plain matmuls, faster generation), in the
    loaded precision, and is then cast to `generation.precision`'s dtype (merging in float32 first keeps the
    small LoRA update from being rounded before it is added); a 4-bit base keeps the PeftModel unmerged, since
    merging into quantized weights rounds the update away.
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
    if quantization is None and settings is not None and plan is not None:
        dtype = getattr(torch, inference_dtype(settings.generation.precision, plan))
        if dtype != model.dtype:
            model = model.to(dtype)
    return model, tokenizer
