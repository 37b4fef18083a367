"""Evaluation-time SQL generation: batched (length-sorted, left-padded, KV cache) vs one prompt at a time.

Times `generate_completions` (a wrapper of `generate_answers`, which the evaluation stage runs) on N prompts of Spider-dev-like
length (1,034 by default: the size of Spider dev) with a 1B-architecture model (random weights: the
speed does not depend on them), in one run. One-at-a-time generation of every prompt takes long on
any device, so by default it is timed on the first `--single-limit` prompts and extrapolated (printed).

    python benchmarks/generation_throughput.py --model llama-3.2-1b          # on a GPU
    python benchmarks/generation_throughput.py --tiny                        # CPU smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.train_throughput import ARCHITECTURES, TINY, save_random_model, spider_like_lengths  # noqa: E402


@dataclass(frozen=True)
class GenerationTiming:
    model: str
    device: str
    prompts: int
    batch_size: int
    max_new_tokens: int
    batched_seconds: float
    single_seconds_measured: float
    single_prompts_measured: int
    single_seconds_for_all: float  # extrapolated when single_prompts_measured < prompts

    @property
    def speedup(self) -> float:
        return self.single_seconds_for_all / self.batched_seconds


def main(argv: list[str] | None = None) -> GenerationTiming:
    import torch

    from t2sql_pipeline.core.inference.generation import generate_completions
    from t2sql_pipeline.core.training.base_models import load_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="llama-3.2-1b", choices=list(ARCHITECTURES))
    parser.add_argument("--prompts", type=int, default=1034, help="number of questions (Spider dev has 1,034)")
    parser.add_argument("--max-length", type=int, default=1024, help="longest prompt")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="generation.max_new_tokens")
    parser.add_argument("--batch-size", type=int, default=32, help="generation.batch_size")
    parser.add_argument("--single-limit", type=int, default=64, help="prompts timed one at a time (0: all)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and few short prompts: a CPU smoke test")
    parser.add_argument("--out", type=Path, help="write the timing as JSON")
    args = parser.parse_args(argv)
    name, arch = ("tiny", TINY) if args.tiny else (args.model, ARCHITECTURES[args.model])
    if args.tiny:
        args.prompts, args.max_length, args.max_new_tokens = min(args.prompts, 12), min(args.max_length, 96), min(args.max_new_tokens, 8)
        args.batch_size, args.single_limit = min(args.batch_size, 4), min(args.single_limit or 4, 4)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    with tempfile.TemporaryDirectory() as workdir:
        save_random_model(arch, Path(workdir), "bfloat16" if cuda else "float32")
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(workdir, dtype=dtype, attn_implementation="sdpa").to("cuda" if cuda else "cpu")
        tokenizer = load_tokenizer(workdir, for_generation=True)
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, arch["vocab_size"], (n,), generator=generator).tolist() for n in spider_like_lengths(args.prompts, args.max_length)]

    def timed(batch: list[list[int]], batch_size: int) -> float:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        generate_completions(model, tokenizer, batch, max_new_tokens=args.max_new_tokens, batch_size=batch_size)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed(prompts[:2], 2)  # warm-up: kernels, allocator
    batched = timed(prompts, args.batch_size)
    subset = prompts if not args.single_limit else prompts[: args.single_limit]
    single = sum(timed([p], 1) for p in subset)
    result = GenerationTiming(
        model=name,
        device=torch.cuda.get_device_name() if cuda else "cpu",
        prompts=len(prompts),
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        batched_seconds=batched,
        single_seconds_measured=single,
        single_prompts_measured=len(subset),
        single_seconds_for_all=single * len(prompts) / len(subset),
    )
    extrapolated = " (extrapolated)" if len(subset) < len(prompts) else ""
    print(f"{name} on {result.device}: {len(prompts)} prompts, max_new_tokens {args.max_new_tokens}")
    print(f"  batched (batch {args.batch_size}): {batched:.2f} s")
    print(f"  one at a time: {result.single_seconds_for_all:.2f} s{extrapolated}, from {len(subset)} prompts in {single:.2f} s")
    print(f"  batched speed-up: {result.speedup:.1f}x")
    if args.out:
        args.out.write_text(json.dumps({**asdict(result), "speedup": result.speedup}, indent=1))
    return result


if __name__ == "__main__":
    main()
