"""The hardware plan: what training really uses on this machine (precision, optimizer, 4-bit, attention), and each fallback named."""

from __future__ import annotations

from dataclasses import dataclass

from t2sql_pipeline.core.settings import PipelineSettings


@dataclass(frozen=True)
class HardwarePlan:
    """What training really uses on this machine, and why it differs from the settings."""

    precision: str  # bf16 | fp16 | fp32
    optimizer: str  # a transformers `optim` name
    load_in_4bit: bool
    compute_dtype: str  # torch dtype name for the base weights / 4-bit matmuls
    packing: bool = False  # padding-free batches
    attention: str = "sdpa"  # transformers attn_implementation
    fallbacks: tuple[str, ...] = ()


def resolve_hardware(
    settings: PipelineSettings, *, cuda: bool | None = None, bf16_supported: bool | None = None, flash_attention: bool | None = None
) -> HardwarePlan:
    """Precision auto: bf16 where supported, else fp16 on CUDA, fp32 on CPU; CUDA-only options fall back on CPU."""
    import torch
    from transformers.utils import is_flash_attn_2_available

    cuda = torch.cuda.is_available() if cuda is None else cuda
    flash_attention = (cuda and is_flash_attn_2_available()) if flash_attention is None else flash_attention
    bf16_supported = (cuda and torch.cuda.is_bf16_supported()) if bf16_supported is None else bf16_supported
    t, q = settings.training, settings.quantization
    fallbacks: list[str] = []
    if not cuda:
        if t.precision in {"bf16", "fp16"}:
            raise ValueError(f"training.precision={t.precision} needs a CUDA GPU; use 'auto' or 'fp32' on CPU")
        precision = "fp32"
    elif t.precision == "auto":
        precision = "bf16" if bf16_supported else "fp16"
    else:
        precision = t.precision
    optimizer = t.optimizer
    if not cuda and optimizer != "adamw_torch":
        fallbacks.append(f"training.optimizer={optimizer} needs CUDA (bitsandbytes); using adamw_torch instead")
        optimizer = "adamw_torch"
    load_in_4bit = q.load_in_4bit
    if not cuda and load_in_4bit:
        fallbacks.append("quantization.load_in_4bit=true needs CUDA (bitsandbytes); loading the base model in float32 instead")
        load_in_4bit = False
    if q.compute_dtype != "auto":
        compute_dtype = q.compute_dtype
    else:
        compute_dtype = {"bf16": "bfloat16", "fp16": "float16"}.get(precision, "float32")
    if not load_in_4bit and precision == "fp16":
        compute_dtype = "float32"  # fp16 mixed precision needs fp32 master weights (the GradScaler refuses fp16 grads)
    flash_attention = flash_attention and precision in {"bf16", "fp16"}  # the kernels have no fp32 path
    packing = t.packing and flash_attention
    if t.packing and not flash_attention:
        # SDPA/eager turn a packed row into one (total x total) masked attention: slower than padding (measured on CPU).
        fallbacks.append("training.packing=true needs FlashAttention-2 (flash-attn on CUDA) for variable-length attention; using padded batches instead")
    attention = "flash_attention_2" if flash_attention else "sdpa"
    return HardwarePlan(precision, optimizer, load_in_4bit, compute_dtype, packing, attention, tuple(fallbacks))


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (torch imported on first call)."""
    import torch

    return torch.cuda.is_available()
