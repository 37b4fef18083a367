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
    """Precision auto: bf16 where supported (a CUDA GPU, or a CPU with AVX512-BF16 or AMX units), else fp16 on CUDA
    and fp32 on CPU; CUDA-only options fall back on CPU."""
    import torch
    from transformers.utils import is_flash_attn_2_available

    cuda = torch.cuda.is_available() if cuda is None else cuda
    flash_attention = (cuda and is_flash_attn_2_available()) if flash_attention is None else flash_attention
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16_units()
    t, q = settings.training, settings.quantization
    fallbacks: list[str] = []
    if not cuda:
        if t.precision == "fp16":
            raise ValueError("training.precision=fp16 needs a CUDA GPU; use 'auto', 'bf16' (CPUs with bf16 units) or 'fp32' on CPU")
        if t.precision == "bf16" and not bf16_supported:
            raise ValueError(
                "training.precision=bf16: this CPU has no bf16 units (AVX512-BF16 or AMX) and torch would emulate them slowly; use 'auto' or 'fp32'"
            )
        precision = "bf16" if t.precision in {"auto", "bf16"} and bf16_supported else "fp32"
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
    elif not cuda:
        compute_dtype = "float32"  # CPU bf16 is autocast over float32 weights: LoRA updates keep full precision
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


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), as torch's own CPU probe reports it;
    without them autocast emulates bf16 and is slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu has no public bf16 probe yet
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (torch imported on first call)."""
    import torch

    return torch.cuda.is_available()
