"""LoRA training throughput: the usual recipe vs our fastest default, side by side in one run.

Builds each model from its published architecture (random weights: speed does not depend on them),
trains it through the pipeline's own builders and TRL's SFTTrainer on Spider-like sequence lengths,
and reports tokens/s, MFU and peak accelerator memory for

  recipe   batch 1, every sequence padded to the maximum length, gradient checkpointing, 4-bit base (CUDA)
  fastest  bf16 LoRA (fp32 on CPU), padding-free batches, large micro-batch, no checkpointing, SDPA

    python benchmarks/train_throughput.py --models llama-3.2-1b --steps 10        # on a GPU
    python benchmarks/train_throughput.py --tiny                                  # CPU smoke test, seconds

MFU counts useful FLOPs only: 4·N per token for LoRA (forward 2N, input gradients 2N; frozen weights get
none; N = weights in matrix multiplies) plus causal attention, 6·layers·L·(heads·head_dim) per token of a
length-L sequence. Recomputation under checkpointing and padding tokens are not useful work.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Published config.json values of each model (hidden size, layers, heads, vocabulary, ...).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": dict(
        model_type="llama",
        vocab_size=128256,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
        tie_word_embeddings=True,
        rope_theta=500000.0,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
    ),
    "qwen2.5-coder-1.5b": dict(
        model_type="qwen2",
        vocab_size=151936,
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        rope_theta=1000000.0,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
    ),
    "tinyllama-1.1b": dict(
        model_type="llama",
        vocab_size=32000,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        tie_word_embeddings=False,
        rope_theta=10000.0,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
    ),
}
TINY = dict(
    model_type="llama",
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    tie_word_embeddings=False,
    max_position_embeddings=256,
)
SCENARIOS = {
    "recipe": ["training.per_device_batch_size=1", "training.gradient_checkpointing=true", "training.packing=false", "quantization.load_in_4bit=true"],
    "fastest": ["training.gradient_checkpointing=false", "training.packing=true"],
}


@dataclass(frozen=True)
class Measurement:
    model: str
    scenario: str
    device: str
    tokens_per_second: float
    mfu: float | None
    peak_memory_gib: float | None
    steps: int
    fallbacks: tuple[str, ...]


def spider_like_lengths(n: int, max_length: int, seed: int = 0) -> list[int]:
    """Prompt+SQL lengths shaped like Spider with CREATE TABLE schemas (median ~40% of the cap, long tail), capped."""
    rng = random.Random(seed)
    return [max(16, min(max_length, int(rng.lognormvariate(0, 0.45) * 0.4 * max_length))) for _ in range(n)]


def build_rows(lengths: list[int], vocab_size: int, seed: int = 0) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    rows = []
    for length in lengths:
        ids = [rng.randrange(3, vocab_size) for _ in range(length)]
        answer = max(1, length // 8)  # the SQL answer carries the loss; the prompt is masked
        rows.append({"input_ids": ids, "labels": [-100] * (length - answer) + ids[-answer:]})
    return rows


def matmul_parameters(arch: dict[str, Any]) -> int:
    heads, kv = arch["num_attention_heads"], arch["num_key_value_heads"]
    head_dim = arch.get("head_dim") or arch["hidden_size"] // heads
    hidden, layers = arch["hidden_size"], arch["num_hidden_layers"]
    per_layer = hidden * head_dim * (2 * heads + 2 * kv) + 3 * hidden * arch["intermediate_size"]
    return layers * per_layer + hidden * arch["vocab_size"]  # + lm_head; the embedding lookup is no matmul


def training_flops(arch: dict[str, Any], lengths: list[int]) -> float:
    head_dim = arch.get("head_dim") or arch["hidden_size"] // arch["num_attention_heads"]
    attention = sum(6 * arch["num_hidden_layers"] * length * arch["num_attention_heads"] * head_dim * length for length in lengths)
    return 4 * matmul_parameters(arch) * sum(lengths) + attention


def save_random_model(arch: dict[str, Any], out: Path, dtype: str) -> None:
    from tokenizers import Tokenizer, models
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    config = AutoConfig.for_model(**{**arch, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2})
    AutoModelForCausalLM.from_config(config, dtype=dtype).save_pretrained(out)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}  # ids are fed directly; the tokenizer only names the special tokens
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<pad>")), pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.save_pretrained(out)


def measure(name: str, arch: dict[str, Any], scenario: str, args: argparse.Namespace, workdir: Path) -> Measurement:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.training.base_models import build_quantization_config, load_base_for_training
    from t2sql_pipeline.core.training.hardware import resolve_hardware
    from t2sql_pipeline.core.training.sft import build_lora_config, build_sft_config

    steps = args.warmup + args.steps
    overrides = [
        f"training.max_steps={steps}",
        "training.logging_steps=1",
        f"training.eval_steps={10 * steps}",
        "training.save_strategy=no",
        "training.warmup_fraction=0.0",
        f"training.per_device_batch_size={args.batch_size}",
    ]
    settings = load_settings(None, overrides + SCENARIOS[scenario])
    plan = resolve_hardware(settings)
    model_dir = workdir / name
    if not model_dir.exists():
        save_random_model(arch, model_dir, "bfloat16" if torch.cuda.is_available() else "float32")
    quantization = build_quantization_config(settings.quantization, plan.compute_dtype) if plan.load_in_4bit else None
    model = load_base_for_training(
        str(model_dir),
        dtype=plan.compute_dtype,
        quantization=quantization,
        gradient_checkpointing=settings.training.gradient_checkpointing,
        attention=plan.attention,
    )
    per_step = settings.training.per_device_batch_size
    lengths = spider_like_lengths(steps * per_step, args.max_length)
    config = build_sft_config(settings, workdir / f"out-{name}-{scenario}", plan)
    config.shuffle_dataset, config.group_by_length = False, False
    if scenario == "recipe":
        config.pad_to_multiple_of = args.max_length  # pad every sequence to the maximum length
    rows = build_rows(lengths, arch["vocab_size"])
    marks: dict[int, tuple[float, float]] = {}

    class _Clock(TrainerCallback):
        def on_log(self, a: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "num_tokens" in logs:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                marks[state.global_step] = (time.perf_counter(), float(logs["num_tokens"]))

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(rows[:1]),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        peft_config=build_lora_config(settings.lora),
        callbacks=[_Clock()],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    (t0, n0), (t1, n1) = marks[args.warmup], marks[steps]
    seconds = t1 - t0
    measured = lengths[args.warmup * per_step : steps * per_step]  # unshuffled: these are the measured steps' sequences
    flops = training_flops(arch, measured) / seconds
    cuda = torch.cuda.is_available()
    return Measurement(
        model=name,
        scenario=scenario,
        device=torch.cuda.get_device_name() if cuda else "cpu",
        tokens_per_second=(n1 - n0) / seconds,
        mfu=flops / args.peak_flops if (cuda or args.peak_flops_given) else None,
        peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        steps=args.steps,
        fallbacks=plan.fallbacks,
    )


def main(argv: list[str] | None = None) -> list[Measurement]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--steps", type=int, default=10, help="measured optimizer steps per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="steps run before timing starts")
    parser.add_argument("--batch-size", type=int, default=16, help="micro-batch of the fastest scenario (the recipe uses 1)")
    parser.add_argument("--max-length", type=int, default=1024, help="longest sequence (the prompt.max_seq_length cap)")
    parser.add_argument("--peak-flops", type=float, default=None, help="accelerator peak FLOP/s for MFU (790e12: H200 bf16, measured)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and short sequences: a CPU smoke test")
    parser.add_argument("--out", type=Path, help="write the measurements as JSON")
    args = parser.parse_args(argv)
    args.peak_flops_given = args.peak_flops is not None
    args.peak_flops = args.peak_flops or 790e12
    models = {"tiny": TINY} if args.tiny else {name: ARCHITECTURES[name] for name in args.models}
    if args.tiny:
        args.max_length, args.batch_size = min(args.max_length, 128), min(args.batch_size, 4)
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for name, arch in models.items():
            pair = {s: measure(name, arch, s, args, Path(workdir)) for s in SCENARIOS}
            results += pair.values()
            for m in pair.values():
                mfu = f"{m.mfu:.1%}" if m.mfu is not None else "n/a"
                memory = f"{m.peak_memory_gib:.1f} GiB" if m.peak_memory_gib is not None else "n/a (CPU)"
                print(f"{name:20} {m.scenario:8} {m.device:12} {m.tokens_per_second:12,.0f} tok/s  MFU {mfu:>6}  peak {memory}")
                for message in m.fallbacks:
                    print(f"{'':20} {m.scenario:8} fallback: {message}")
            print(f"{name:20} fastest/recipe tokens/s ratio: {pair['fastest'].tokens_per_second / pair['recipe'].tokens_per_second:.2f}x")
    if args.out:
        args.out.write_text(json.dumps([asdict(m) for m in results], indent=1))
    return results


if __name__ == "__main__":
    main()
