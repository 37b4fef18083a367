"""The weights' precision while generating: bf16 on a CPU with AMX, float32 on other CPUs unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2sql_pipeline.core.inference.loading import inference_dtype, load_for_inference
from t2sql_pipeline.core.training.hardware import HardwarePlan
from tests.tiny_models import make_tiny_base, tiny_settings

CPU = HardwarePlan("fp32", "adamw_torch", False, "float32")
CUDA = HardwarePlan("bf16", "adamw_torch", False, "bfloat16", device="cuda")


@pytest.mark.parametrize(
    ("requested", "plan", "units", "expected"),
    [
        ("auto", CPU, "amx", "bfloat16"),
        ("auto", CPU, "avx512_bf16", "float32"),  # bf16 units without AMX: generation not measured faster there
        ("auto", CPU, "none", "float32"),
        ("fp32", CPU, "amx", "float32"),
        ("bf16", CPU, "amx", "bfloat16"),
        ("bf16", CPU, "avx512_bf16", "bfloat16"),
        ("auto", CUDA, "none", "bfloat16"),  # off the CPU, auto keeps the training plan's compute dtype
        ("auto", HardwarePlan("fp16", "adamw_torch", False, "float16", device="cuda"), "none", "float16"),
        ("fp32", CUDA, "none", "float32"),
    ],
)
def test_auto_is_bf16_only_on_a_cpu_with_amx(requested: str, plan: HardwarePlan, units: str, expected: str) -> None:
    assert inference_dtype(requested, plan, bf16_units=units != "none", amx=units == "amx") == expected


def test_bf16_on_a_cpu_without_bf16_units_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"generation.precision=bf16: this CPU has no bf16 units"):
        inference_dtype("bf16", CPU, bf16_units=False, amx=False)


def test_the_model_is_loaded_in_the_chosen_precision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from t2sql_pipeline.core.training import hardware

    base_path = make_tiny_base(tmp_path / "base")
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(base_path), LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)).save_pretrained(
        adapter
    )
    monkeypatch.setattr(hardware, "cpu_has_amx", lambda: True)
    bf16, _ = load_for_inference(base_path, str(adapter), tiny_settings())
    fp32, _ = load_for_inference(base_path, str(adapter), tiny_settings("generation.precision=fp32"))
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16} and {p.dtype for p in fp32.parameters()} == {torch.float32}
    # merged in float32, then cast: every weight is the float32 merge rounded to bf16
    for (name, low), (_, high) in zip(bf16.named_parameters(), fp32.named_parameters(), strict=True):
        assert torch.equal(low, high.to(torch.bfloat16)), name
    monkeypatch.setattr(hardware, "cpu_has_amx", lambda: False)
    plain, _ = load_for_inference(base_path, str(adapter), tiny_settings())
    assert next(plain.parameters()).dtype == torch.float32
