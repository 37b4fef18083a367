"""LoRA/QLoRA settings reach PEFT, bitsandbytes and TRL; padding-free batches keep the loss on SQL only;
CUDA-only settings fall back on CPU with one message each; checkpoints are validated before resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2sql_pipeline.core.training.hardware import HardwarePlan, resolve_hardware
from t2sql_pipeline.core.training.sft import (
    build_lora_config,
    build_sft_config,
    checkpoint_key,
    last_complete_checkpoint,
    train_adapter,
)
from tests.tiny_models import make_rows, make_tiny_base, tiny_settings


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_tiny_base(tmp_path_factory.mktemp("base"))


# --- LoRA and QLoRA objects -------------------------------------------------------------


def test_lora_settings_shape_the_peft_model(base_path: str) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    lora = tiny_settings(
        "lora.r=4", "lora.alpha=8", "lora.dropout=0.1", "lora.target_modules=[q_proj, v_proj]", "lora.modules_to_save=[lm_head]", "lora.bias=lora_only"
    ).lora
    config = build_lora_config(lora)
    assert (config.r, config.lora_alpha, config.lora_dropout, config.bias) == (4, 8, 0.1, "lora_only")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_path), config)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any("q_proj.lora_A" in n for n in trainable) and any("v_proj.lora_B" in n for n in trainable)
    assert not any("k_proj" in n or "o_proj" in n or "mlp" in n for n in trainable)
    assert any("lm_head.modules_to_save" in n for n in trainable)
    assert model.peft_config["default"].r == 4

    every = get_peft_model(AutoModelForCausalLM.from_pretrained(base_path), build_lora_config(tiny_settings("lora.modules_to_save=[]").lora))
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[1] for n, _ in every.named_parameters() if ".lora_A" in n}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # all-linear, never lm_head


@pytest.mark.parametrize(("quant_type", "double", "dtype"), [("nf4", True, "bfloat16"), ("fp4", False, "float16")])
def test_quantization_config_fields(quant_type: str, double: bool, dtype: str) -> None:
    import torch

    from t2sql_pipeline.core.training.base_models import build_quantization_config

    q = tiny_settings("quantization.load_in_4bit=true", f"quantization.quant_type={quant_type}", f"quantization.double_quant={double}").quantization
    config = build_quantization_config(q, dtype)
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == quant_type and config.bnb_4bit_use_double_quant is double
    assert config.bnb_4bit_compute_dtype == getattr(torch, dtype)


def test_cuda_only_settings_fall_back_on_cpu_with_a_named_message() -> None:
    settings = tiny_settings("training.optimizer=paged_adamw_8bit", "quantization.load_in_4bit=true", "training.packing=true")
    plan = resolve_hardware(settings, cuda=False, bf16_supported=False)
    assert (plan.precision, plan.optimizer, plan.load_in_4bit, plan.compute_dtype) == ("fp32", "adamw_torch", False, "float32")
    assert (plan.packing, plan.attention) == (False, "sdpa")
    assert len(plan.fallbacks) == 3
    assert "training.optimizer=paged_adamw_8bit" in plan.fallbacks[0] and "adamw_torch" in plan.fallbacks[0]
    assert "quantization.load_in_4bit" in plan.fallbacks[1]
    assert "training.packing=true needs FlashAttention" in plan.fallbacks[2] and "padded batches" in plan.fallbacks[2]
    assert resolve_hardware(tiny_settings("training.packing=false"), cuda=False, bf16_supported=False).fallbacks == ()
    with pytest.raises(ValueError, match="training.precision=bf16: this CPU has no bf16 units"):
        resolve_hardware(tiny_settings("training.precision=bf16"), cuda=False, bf16_supported=False)
    with pytest.raises(ValueError, match="training.precision=fp16 needs a CUDA GPU"):
        resolve_hardware(tiny_settings("training.precision=fp16"), cuda=False, bf16_supported=True)


def test_cpu_with_bf16_units_trains_in_bf16_autocast_over_float32_weights() -> None:
    plan = resolve_hardware(tiny_settings(), cuda=False, bf16_supported=True)
    assert (plan.precision, plan.compute_dtype) == ("bf16", "float32")
    assert resolve_hardware(tiny_settings("training.precision=bf16"), cuda=False, bf16_supported=True).precision == "bf16"
    assert resolve_hardware(tiny_settings("training.precision=fp32"), cuda=False, bf16_supported=True).precision == "fp32"


def test_cuda_plan_uses_the_settings() -> None:
    settings = tiny_settings("training.optimizer=paged_adamw_8bit", "quantization.load_in_4bit=true", "training.packing=true")
    plan = resolve_hardware(settings, cuda=True, bf16_supported=True, flash_attention=True)
    assert (plan.precision, plan.optimizer, plan.load_in_4bit, plan.compute_dtype, plan.fallbacks) == ("bf16", "paged_adamw_8bit", True, "bfloat16", ())
    assert (plan.packing, plan.attention) == (True, "flash_attention_2")
    no_flash = resolve_hardware(settings, cuda=True, bf16_supported=True, flash_attention=False)
    assert (no_flash.packing, no_flash.attention) == (False, "sdpa") and len(no_flash.fallbacks) == 1
    fp32 = resolve_hardware(tiny_settings("training.precision=fp32"), cuda=True, flash_attention=True)
    assert (fp32.packing, fp32.attention) == (False, "sdpa")  # FlashAttention has no fp32 kernels
    older = resolve_hardware(settings, cuda=True, bf16_supported=False)
    assert (older.precision, older.compute_dtype) == ("fp16", "float16")
    assert resolve_hardware(tiny_settings("quantization.compute_dtype=float32"), cuda=True, bf16_supported=True).compute_dtype == "float32"
    assert resolve_hardware(tiny_settings("training.precision=fp32"), cuda=True, bf16_supported=True).precision == "fp32"


@pytest.mark.parametrize("optimizer", ["adamw_torch", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"])
def test_sft_config_carries_every_training_setting(tmp_path: Path, optimizer: str) -> None:
    settings = tiny_settings(
        "training.lr_scheduler=cosine",
        "training.warmup_fraction=0.1",
        "training.weight_decay=0.01",
        "training.max_steps=7",
        "training.gradient_accumulation_steps=3",
        "training.gradient_checkpointing=true",
        "training.save_steps=5",
        "training.save_total_limit=3",
        "training.eval_strategy=epoch",
        "training.save_strategy=epoch",
        "experiment.seed=7",
    )
    config = build_sft_config(settings, tmp_path, HardwarePlan("fp32", optimizer, False, "float32", packing=True, device="cuda"))  # a GPU plan's choices
    assert config.optim == optimizer
    assert (config.lr_scheduler_type, config.warmup_steps, config.weight_decay, config.max_steps) == ("cosine", 0.1, 0.01, 7)
    assert (config.gradient_accumulation_steps, config.gradient_checkpointing, config.seed) == (3, True, 7)
    assert (config.eval_strategy, config.save_strategy, config.save_steps, config.save_total_limit) == ("epoch", "epoch", 5, 3)
    assert config.bf16 is False and config.fp16 is False  # an fp32 plan: never TRL's bf16 default
    assert config.use_cpu is False and config.dataloader_pin_memory is True  # the device follows the plan, not the precision
    assert config.padding_free is True and config.max_length is None


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# --- padding-free batches ---------------------------------------------------------------


def test_padding_free_batches_mask_prompts_and_keep_sequences_apart(base_path: str, tmp_path: Path) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    rows = make_rows(base_path, repeat=1)[:3]
    data = Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    settings = tiny_settings("training.max_steps=1")
    model = AutoModelForCausalLM.from_pretrained(base_path)
    plan = HardwarePlan("fp32", "adamw_torch", False, "float32", packing=True)  # what a FlashAttention GPU gets
    trainer = SFTTrainer(
        model=model,
        args=build_sft_config(settings, tmp_path, plan),
        train_dataset=data,
        eval_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(base_path),
    )
    batch = trainer.data_collator([data[i] for i in range(3)])
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch  # one row, no pad tokens
    offset = 0
    for row in rows:
        length = len(row["input_ids"])
        assert batch["position_ids"][0, offset : offset + length].tolist() == list(range(length))  # positions restart
        assert (batch["labels"][0, offset : offset + row["prompt_length"]] == -100).all()  # no loss on the prompt
        assert batch["labels"][0, offset + row["prompt_length"] : offset + length].tolist() == row["labels"][row["prompt_length"] :]
        offset += length
    # No attention across boundaries: each sequence's logits equal those computed alone.
    model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        offset = 0
        for row in rows:
            alone = model(input_ids=torch.tensor([row["input_ids"]])).logits[0]
            torch.testing.assert_close(packed[offset : offset + len(row["input_ids"])], alone, atol=1e-5, rtol=1e-4)
            offset += len(row["input_ids"])


# --- a short real training run ----------------------------------------------------------


@pytest.mark.slow
def test_training_logs_metrics_reports_fallbacks_once_and_cleans_up(base_path: str, tmp_path: Path) -> None:
    from datasets import Dataset

    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in make_rows(base_path)]
    settings = tiny_settings(
        "training.max_steps=4",
        "training.logging_steps=1",
        "training.eval_steps=2",
        "training.save_steps=2",
        "training.per_device_batch_size=4",
        "training.optimizer=adamw_8bit",
        "quantization.load_in_4bit=true",
        "training.packing=true",
    )
    logged: list[tuple[dict[str, float], int]] = []
    messages: list[str] = []
    outcome = train_adapter(
        base_path,
        Dataset.from_list(rows),
        Dataset.from_list(rows[:4]),
        settings,
        tmp_path,
        metrics_sink=lambda metrics, step: logged.append((metrics, step)),
        log=messages.append,
    )
    assert outcome.global_step == 4 and outcome.resumed_from_step == 0
    plan = resolve_hardware(settings)
    # One plan line per run, naming the device and each setting this machine cannot honour (on a CPU the 8-bit
    # optimizer, the 4-bit base and packing).
    assert [m for m in messages if m.startswith("hardware plan:")] == [plan.summary()]
    if plan.device == "cpu":
        assert len(plan.fallbacks) == 3
        assert sum("training.optimizer=adamw_8bit" in f for f in plan.fallbacks) == 1
        assert sum("quantization.load_in_4bit" in f for f in plan.fallbacks) == 1
        assert all(f"fallback: {f}" in plan.summary() for f in plan.fallbacks)
    train_rows = [m for m, _ in logged if "loss" in m]
    assert [step for m, step in logged if "loss" in m] == [1, 2, 3, 4]
    assert all({"loss", "learning_rate", "grad_norm"} <= set(m) for m in train_rows)
    assert all(m["tokens_per_second"] > 0 for m in train_rows[1:])
    assert all(("peak_memory_gib" in m) is cuda_available() for m in train_rows)  # accelerator memory only on CUDA
    evals = [m for m, _ in logged if "eval_loss" in m]
    assert len(evals) >= 2 and all("eval_mean_token_accuracy" in m for m in evals)
    assert Path(outcome.path, "adapter_model.safetensors").is_file()
    assert not (tmp_path / "checkpoints").exists()  # removed after success


@pytest.mark.slow
def test_training_changes_the_lora_weights_and_lowers_the_loss(base_path: str, tmp_path: Path) -> None:
    from datasets import Dataset
    from safetensors.torch import load_file

    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in make_rows(base_path)]
    settings = tiny_settings("training.max_steps=12", "training.logging_steps=1", "training.eval_steps=100", "training.learning_rate=1e-2")
    outcome = train_adapter(base_path, Dataset.from_list(rows), Dataset.from_list(rows[:4]), settings, tmp_path, log=lambda _m: None)
    weights = load_file(str(Path(outcome.path, "adapter_model.safetensors")))
    lora_b = [tensor for name, tensor in weights.items() if "lora_B" in name]
    assert lora_b and all(float(t.abs().max()) > 0 for t in lora_b)  # PEFT starts every lora_B at zero
    losses = [row["loss"] for row in json.loads(tmp_path.joinpath("log_history.json").read_text()) if "loss" in row]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


# --- checkpoints ------------------------------------------------------------------------


def _fake_checkpoint(root: Path, step: int, *, complete: bool) -> Path:
    import torch
    from safetensors.torch import save_file

    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(folder / "adapter_model.safetensors"))
    for name in ("optimizer.pt", "scheduler.pt"):
        (folder / name).write_bytes(b"x")
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_last_complete_checkpoint_skips_and_deletes_half_written_ones(tmp_path: Path) -> None:
    assert last_complete_checkpoint(tmp_path) is None
    good = _fake_checkpoint(tmp_path, 4, complete=True)
    _fake_checkpoint(tmp_path, 10, complete=True)
    half = _fake_checkpoint(tmp_path, 12, complete=False)
    truncated = tmp_path / "checkpoint-10" / "adapter_model.safetensors"
    truncated.write_bytes(truncated.read_bytes()[:20])  # killed while writing the weights
    messages: list[str] = []
    assert last_complete_checkpoint(tmp_path, messages.append) == good
    assert not half.exists() and not (tmp_path / "checkpoint-10").exists()
    assert len(messages) == 2 and all("incomplete checkpoint" in m for m in messages)


def test_checkpoint_key_is_stable_and_follows_settings_and_data(base_path: str) -> None:
    from datasets import Dataset

    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in make_rows(base_path, repeat=1)]
    data = Dataset.from_list(rows)
    key = checkpoint_key(tiny_settings(), base_path, data)
    assert key == checkpoint_key(tiny_settings(), base_path, Dataset.from_list(rows))
    assert key == checkpoint_key(tiny_settings("evaluation.max_examples=3"), base_path, data)  # evaluation does not matter
    assert key != checkpoint_key(tiny_settings("lora.r=8"), base_path, data)
    assert key != checkpoint_key(tiny_settings(), base_path, Dataset.from_list(rows[:-1]))


def test_auto_picks_cuda_then_mps_then_cpu_and_says_why() -> None:
    settings = tiny_settings()
    assert resolve_hardware(settings, cuda=True, mps=True, bf16_supported=True, flash_attention=False).device == "cuda"
    on_mac = resolve_hardware(settings, cuda=False, mps=True, bf16_supported=True)
    assert (on_mac.device, on_mac.device_reason) == ("mps", "auto: no CUDA GPU, Apple MPS available")
    cpu = resolve_hardware(settings, cuda=False, mps=False, bf16_supported=False)
    assert (cpu.device, cpu.precision) == ("cpu", "fp32")
    assert cpu.summary().startswith("hardware plan: device cpu (auto: no CUDA GPU, no Apple MPS), precision fp32, optimizer adamw_torch")


def test_mps_plan_uses_what_torch_supports_there() -> None:
    settings = tiny_settings("training.optimizer=paged_adamw_8bit", "quantization.load_in_4bit=true", "training.packing=true")
    sonoma = resolve_hardware(settings, cuda=False, mps=True, bf16_supported=True, flash_attention=True)
    assert (sonoma.device, sonoma.precision, sonoma.compute_dtype, sonoma.optimizer, sonoma.load_in_4bit) == ("mps", "bf16", "float32", "adamw_torch", False)
    assert (sonoma.attention, sonoma.packing, sonoma.pin_memory) == ("sdpa", False, False)  # no FlashAttention, no pinned memory on MPS
    assert [f.split()[0] for f in sonoma.fallbacks] == ["training.optimizer=paged_adamw_8bit", "quantization.load_in_4bit=true", "training.packing=true"]
    ventura = resolve_hardware(tiny_settings(), cuda=False, mps=True, bf16_supported=False)
    assert (ventura.precision, ventura.compute_dtype) == ("fp16", "float32")
    assert resolve_hardware(tiny_settings("training.precision=fp16"), cuda=False, mps=True, bf16_supported=True).precision == "fp16"
    with pytest.raises(ValueError, match="training.precision=bf16 on Apple MPS needs macOS 14 or later"):
        resolve_hardware(tiny_settings("training.precision=bf16"), cuda=False, mps=True, bf16_supported=False)


def test_an_explicit_device_is_used_or_refused_by_name() -> None:
    on_gpu_machine = resolve_hardware(tiny_settings("training.device=cpu"), cuda=True, mps=False, bf16_supported=False, flash_attention=True)
    assert (on_gpu_machine.device, on_gpu_machine.device_reason, on_gpu_machine.attention) == ("cpu", "training.device=cpu", "sdpa")
    with pytest.raises(ValueError, match=r"training.device=cuda: torch sees no CUDA GPU"):
        resolve_hardware(tiny_settings("training.device=cuda"), cuda=False, mps=True)
    with pytest.raises(ValueError, match=r"training.device=mps: torch sees no Apple MPS device"):
        resolve_hardware(tiny_settings("training.device=mps"), cuda=True, mps=False)


@pytest.mark.parametrize(("cuda", "mps", "use_cpu", "pin_memory"), [(True, False, False, True), (False, True, False, False), (False, False, True, False)])
def test_the_trainer_runs_on_the_planned_device(tmp_path: Path, cuda: bool, mps: bool, use_cpu: bool, pin_memory: bool) -> None:
    plan = resolve_hardware(tiny_settings("training.precision=fp32"), cuda=cuda, mps=mps, bf16_supported=False, flash_attention=False)
    config = build_sft_config(tiny_settings("training.precision=fp32"), tmp_path, plan)
    assert (config.use_cpu, config.dataloader_pin_memory) == (use_cpu, pin_memory)
