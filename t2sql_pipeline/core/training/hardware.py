"""The hardware plan: what training really uses on this machine (precision, optimizer, 4-bit, attention), and each fallback named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from t2sql_pipeline.core.settings import PipelineSettings

Device = Literal["cuda", "mps", "cpu"]


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
    device: Device = "cpu"
    device_reason: str = ""  # why this device (what torch sees, or the setting)

    @property
    def pin_memory(self) -> bool:
        """Pinned host memory speeds copies to a CUDA GPU; MPS shares memory with the CPU and torch warns there."""
        return self.device == "cuda"

    def summary(self) -> str:
        """The one line a run prints: device and why, then precision, optimizer, attention, each fallback."""
        parts = [f"device {self.device} ({self.device_reason})", f"precision {self.precision}", f"optimizer {self.optimizer}", f"attention {self.attention}"]
        if self.load_in_4bit:
            parts.append("4-bit base")
        return "hardware plan: " + ", ".join(parts) + "".join(f"; fallback: {f}" for f in self.fallbacks)


def choose_device(requested: str, *, cuda: bool, mps: bool) -> tuple[Device, str]:
    """`training.device`: auto picks CUDA, then MPS, then the CPU, from what torch sees; an explicit device it lacks is an error.

    >>> choose_device("auto", cuda=False, mps=True)
    ('mps', 'auto: no CUDA GPU, Apple MPS available')
    """
    if requested == "cuda" and not cuda:
        raise ValueError("training.device=cuda: torch sees no CUDA GPU (torch.cuda.is_available() is False); use 'auto' or 'cpu'")
    if requested == "mps" and not mps:
        raise ValueError("training.device=mps: torch sees no Apple MPS device (torch.backends.mps.is_available() is False); use 'auto' or 'cpu'")
    if requested != "auto":
        return requested, f"training.device={requested}"  # type: ignore[return-value]
    if cuda:
        return "cuda", "auto: CUDA GPU available"
    if mps:
        return "mps", "auto: no CUDA GPU, Apple MPS available"
    return "cpu", "auto: no CUDA GPU, no Apple MPS"


def resolve_hardware(
    settings: PipelineSettings,
    *,
    cuda: bool | None = None,
    mps: bool | None = None,
    bf16_supported: bool | None = None,
    flash_attention: bool | None = None,
) -> HardwarePlan:
    """The device from `training.device` and what torch sees (`cuda`, `mps`: fakes for tests). Precision auto:
    bf16 where the device has it (a CUDA GPU; MPS on macOS 14+; a CPU with AVX512-BF16 or AMX units), else fp16
    on CUDA and MPS and fp32 on CPU; CUDA-only options (4-bit, 8-bit optimizers, FlashAttention) fall back elsewhere."""
    import torch
    from transformers.utils import is_flash_attn_2_available

    cuda = torch.cuda.is_available() if cuda is None else cuda
    mps = mps_available() if mps is None else mps
    device, reason = choose_device(settings.training.device, cuda=cuda, mps=mps)
    on_cuda = device == "cuda"
    flash_attention = (on_cuda and is_flash_attn_2_available()) if flash_attention is None else (flash_attention and on_cuda)
    if bf16_supported is None:
        bf16_supported = {"cuda": torch.cuda.is_bf16_supported, "mps": mps_has_bf16, "cpu": cpu_has_bf16_units}[device]()
    t, q = settings.training, settings.quantization
    fallbacks: list[str] = []
    precision = _precision(t.precision, device, bf16_supported)
    optimizer = t.optimizer
    if not on_cuda and optimizer != "adamw_torch":
        fallbacks.append(f"training.optimizer={optimizer} needs CUDA (bitsandbytes); using adamw_torch instead")
        optimizer = "adamw_torch"
    load_in_4bit = q.load_in_4bit
    if not on_cuda and load_in_4bit:
        fallbacks.append("quantization.load_in_4bit=true needs CUDA (bitsandbytes); loading the base model in float32 instead")
        load_in_4bit = False
    if q.compute_dtype != "auto":
        compute_dtype = q.compute_dtype
    elif not on_cuda:
        compute_dtype = "float32"  # CPU and MPS mixed precision is autocast over float32 weights: LoRA updates keep full precision
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
    return HardwarePlan(precision, optimizer, load_in_4bit, compute_dtype, packing, attention, tuple(fallbacks), device, reason)


def _precision(requested: str, device: Device, bf16_supported: bool) -> str:
    if device == "cuda":
        return ("bf16" if bf16_supported else "fp16") if requested == "auto" else requested
    if device == "mps":
        if requested == "bf16" and not bf16_supported:
            raise ValueError("training.precision=bf16 on Apple MPS needs macOS 14 or later; use 'auto', 'fp16' or 'fp32'")
        return ("bf16" if bf16_supported else "fp16") if requested == "auto" else requested
    if requested == "fp16":
        raise ValueError("training.precision=fp16 needs a CUDA GPU or Apple MPS; use 'auto', 'bf16' (CPUs with bf16 units) or 'fp32' on CPU")
    if requested == "bf16" and not bf16_supported:
        raise ValueError("training.precision=bf16: this CPU has no bf16 units (AVX512-BF16 or AMX) and torch would emulate them slowly; use 'auto' or 'fp32'")
    return "bf16" if requested in {"auto", "bf16"} and bf16_supported else "fp32"


def mps_available() -> bool:
    """Whether torch sees an Apple MPS device."""
    import torch

    return bool(torch.backends.mps.is_available())


def mps_has_bf16() -> bool:
    """MPS runs bf16 from macOS 14 on (transformers' Apple Silicon guide)."""
    import torch

    return bool(torch.backends.mps.is_macos_or_newer(14, 0))


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), as torch's own CPU probe reports it;
    without them autocast emulates bf16 and is slower than fp32."""
    import torch

    # torch.cpu has no public bf16 probe yet
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()) or cpu_has_amx()


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later), where bf16 matmuls run several times faster than float32."""
    import torch

    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
