"""The benchmark scripts run end to end on a tiny model (no timing assertions), and their FLOP counts are right."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import generation_throughput, train_throughput  # noqa: E402


@pytest.mark.parametrize(
    ("name", "published_billions"),
    [("llama-3.2-1b", 1.24), ("qwen2.5-coder-1.5b", 1.54), ("tinyllama-1.1b", 1.10 - 0.0655)],  # TinyLlama: its input embedding is no matmul
)
def test_matmul_parameters_match_the_published_sizes(name: str, published_billions: float) -> None:
    assert train_throughput.matmul_parameters(train_throughput.ARCHITECTURES[name]) / 1e9 == pytest.approx(published_billions, abs=0.01)


def test_training_flops_agree_with_torchs_flop_counter() -> None:
    """The MFU numerator against FLOPs torch counts on a real forward and backward of the tiny model with frozen
    weights (LoRA's case: gradients flow to the activations, not to the base weights)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoConfig, AutoModelForCausalLM

    arch = dict(train_throughput.TINY)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**arch), attn_implementation="eager").requires_grad_(False)
    length = 32
    embeds = model.get_input_embeddings()(torch.randint(0, arch["vocab_size"], (1, length))).detach().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        model(inputs_embeds=embeds).logits.float().sum().backward()
    counted = counter.get_total_flops()
    # torch counts the full attention matrices; the formula counts the causal half: compare with that added back.
    full_attention = train_throughput.training_flops(arch, [length]) - 4 * train_throughput.matmul_parameters(arch) * length
    assert train_throughput.training_flops(arch, [length]) + full_attention == pytest.approx(counted, rel=0.05)


@pytest.mark.slow
def test_train_throughput_smoke(tmp_path: Path) -> None:
    results = train_throughput.main(["--tiny", "--peak-flops", "1e12", "--out", str(tmp_path / "train.json")])
    assert [m.scenario for m in results] == ["recipe", "fastest"]
    assert all(m.tokens_per_second > 0 and m.mfu is not None and m.mfu > 0 for m in results)
    import torch

    cuda = torch.cuda.is_available()
    assert all((m.peak_memory_gib is not None) is cuda for m in results)  # accelerator memory only on CUDA
    recipe, fastest = results
    if not cuda:
        assert any("quantization.load_in_4bit" in f for f in recipe.fallbacks)
        assert [f.split("=")[0] for f in fastest.fallbacks] == ["training.packing"]  # CPU: no FlashAttention
    assert (tmp_path / "train.json").is_file()


def test_generation_throughput_smoke(tmp_path: Path) -> None:
    result = generation_throughput.main(["--tiny", "--out", str(tmp_path / "generation.json")])
    assert result.prompts == 12 and result.single_prompts_measured == 4
    assert result.batched_seconds > 0 and result.single_seconds_for_all == pytest.approx(result.single_seconds_measured * 3)
    assert (tmp_path / "generation.json").is_file()


@pytest.mark.slow
def test_voting_cost_smoke(registered_sql_model, tmp_path: Path) -> None:
    from benchmarks import voting_cost
    from tests.conftest import TINY_PIPELINE

    argv = ["--experiment", "demo", "--run-dir", str(registered_sql_model.run_dir), "--split", "test", "--questions", "4", "--candidates", "3"]
    results = voting_cost.main(argv + [f"--set={o}" for o in TINY_PIPELINE] + ["--sorted-top-p", "--out", str(tmp_path / "voting.json")])
    assert [r.arm for r in results] == ["greedy", "vote", "vote_unshared", "vote_sorted_top_p"]
    assert results[0].ratio_to_greedy == 1.0 and all(r.questions == 4 and r.seconds > 0 for r in results)
    assert results[2].answers_equal_to_vote is True  # sharing the prefill changes no answer
    assert results[3].answers_equal_to_vote is True  # nor does top-p without the full sort
    assert (tmp_path / "voting.json").is_file()
