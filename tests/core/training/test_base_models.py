"""Loading base models for training and evaluation: merged adapters give the same logits; parameter estimates are exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import make_tiny_base, tiny_settings


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_tiny_base(tmp_path_factory.mktemp("base"))


def test_evaluation_merges_the_adapter_into_a_full_precision_base(base_path: str, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from t2sql_pipeline.core.inference.loading import load_for_inference

    # init_lora_weights=False: a non-zero update, so merging visibly changes the weights.
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_path), LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    fp32 = tiny_settings("generation.precision=fp32")  # the comparison below is in float32 on every CPU
    merged, tokenizer = load_for_inference(base_path, str(tmp_path / "adapter"), fp32)
    base, _ = load_for_inference(base_path, None, fp32)
    assert not isinstance(merged, PeftModel) and tokenizer.padding_side == "left"
    ids = torch.tensor([[1, 5, 9, 12, 7]])
    with torch.no_grad():
        unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), tmp_path / "adapter")(ids).logits
        torch.testing.assert_close(merged(ids).logits, unmerged, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(base(ids).logits, unmerged, atol=1e-3)


def test_training_base_loads_in_the_planned_dtype(base_path: str) -> None:
    import torch

    from t2sql_pipeline.core.training.base_models import load_base_for_training

    model = load_base_for_training(base_path, dtype="float32", quantization=None, gradient_checkpointing=False)
    assert next(model.parameters()).dtype == torch.float32
    assert model.config._attn_implementation == "sdpa"


def test_parameter_estimate_matches_the_built_model(base_path: str) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    from t2sql_pipeline.core.training.base_models import estimate_parameters

    model = AutoModelForCausalLM.from_pretrained(base_path)
    assert estimate_parameters(AutoConfig.from_pretrained(base_path)) == sum(p.numel() for p in model.parameters())
