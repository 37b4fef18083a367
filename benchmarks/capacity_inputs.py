"""Inputs of the capacity plan (docs/deployment.md): prompt+SQL length per question and GPU-hours per epoch.

Measures the characters of what the model trains on per question — the pipeline's own user
message (`render_schema` + evidence + question, no sample values, as `configs/base.yaml`), the
system prompt and the gold SQL — on Spider dev and BIRD dev, the files we have. Converts to
tokens at an *assumed* characters-per-token ratio (no Llama-3 tokenizer is available offline),
caps at `prompt.max_seq_length` (longer schemas are shrunk to fit), and computes LoRA FLOPs with
benchmarks/train_throughput.py's formula (4·N per token + causal attention). GPU-hours use an
*assumed* MFU and the H200 peak measured here (790 TFLOP/s bf16). Every assumption is a flag.

    python benchmarks/capacity_inputs.py [--data ../shared/data] [--chars-per-token 3.5] [--mfu 0.4 0.2]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.data.schema_prompt import render_schema
from t2sql_pipeline.core.training.tokenization import SYSTEM_PROMPT, user_message

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_QUESTIONS = {"spider": 7000 + 1659, "bird": 9428}  # train_spider + train_others; BIRD train (published sizes)
LLAMA_3_2_3B = dict(
    model_type="llama",
    vocab_size=128256,
    hidden_size=3072,
    intermediate_size=8192,
    num_hidden_layers=28,
    num_attention_heads=24,
    num_key_value_heads=8,
    head_dim=128,
    tie_word_embeddings=True,
)  # published config.json


def _train_throughput() -> Any:
    """benchmarks/train_throughput.py, for its published architectures and FLOP formula."""
    import sys

    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks import train_throughput

    return train_throughput


def question_chars(data: Path) -> dict[str, list[int]]:
    """Characters per question (system prompt + user message + gold SQL) on Spider dev and BIRD dev."""
    files = {"spider": ("spider-dev/dev.json", "spider-dev/tables.json", "query"), "bird": ("bird-dev/dev.json", "bird-dev/dev_tables.json", "SQL")}
    out: dict[str, list[int]] = {}
    for source, (questions_file, tables_file, sql_key) in files.items():
        schemas = {t["db_id"]: render_schema(t) for t in json.loads((data / tables_file).read_text())}
        out[source] = [
            len(SYSTEM_PROMPT) + len(user_message(schemas[q["db_id"]], q["question"], q.get("evidence") or None)) + len(q[sql_key])
            for q in json.loads((data / questions_file).read_text())
        ]
    return out


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--chars-per-token", type=float, default=3.5, help="ASSUMED ratio for Llama-3's tokenizer on schema+SQL text")
    parser.add_argument("--template-tokens", type=int, default=40, help="ASSUMED chat-template markup per example (headers, dates, end tokens)")
    parser.add_argument("--max-seq-length", type=int, default=1024, help="prompt.max_seq_length (configs/base.yaml)")
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.4, 0.2], help="ASSUMED model FLOPs utilisation")
    parser.add_argument("--peak-flops", type=float, default=790e12, help="H200 bf16 matmul, measured (../shared/DESIGN.md §6)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tt = _train_throughput()
    models = {"llama-3.2-1b": tt.ARCHITECTURES["llama-3.2-1b"], "llama-3.2-3b": LLAMA_3_2_3B}
    result: dict[str, Any] = {
        "assumptions": {k: getattr(args, k) for k in ("chars_per_token", "template_tokens", "max_seq_length", "mfu")},
        "peak_flops": args.peak_flops,
        "sources": {},
        "models": {},
        "epochs": [],
    }
    for name, arch in models.items():
        result["models"][name] = {"matmul_parameters": tt.matmul_parameters(arch)}
    for source, chars in question_chars(args.data).items():
        tokens = sorted(min(round(c / args.chars_per_token) + args.template_tokens, args.max_seq_length) for c in chars)
        result["sources"][source] = {
            "dev_questions": len(chars),
            "chars_mean": statistics.fmean(chars),
            "chars_median": statistics.median(chars),
            "chars_p95": sorted(chars)[int(0.95 * len(chars))],
            "tokens_mean": statistics.fmean(tokens),
            "tokens_p95": tokens[int(0.95 * len(tokens))],
            "capped_share": sum(t == args.max_seq_length for t in tokens) / len(tokens),
        }
        scale = TRAIN_QUESTIONS[source] / len(tokens)  # train has no files here: dev's per-question lengths, extrapolated
        for name, arch in models.items():
            flops = tt.training_flops(arch, tokens) * scale
            for mfu in args.mfu:
                result["epochs"].append(
                    {
                        "source": source,
                        "model": name,
                        "train_questions": TRAIN_QUESTIONS[source],
                        "tokens": sum(tokens) * scale,
                        "flops": flops,
                        "mfu": mfu,
                        "gpu_hours": flops / (mfu * args.peak_flops) / 3600,
                    }
                )
    for source, s in result["sources"].items():
        print(
            f"{source}: {s['dev_questions']} dev questions, chars mean {s['chars_mean']:.0f} median {s['chars_median']:.0f} p95 {s['chars_p95']}, "
            f"est. tokens mean {s['tokens_mean']:.0f} p95 {s['tokens_p95']}, capped {s['capped_share']:.1%}"
        )
    for name, m in result["models"].items():
        print(f"{name}: N (matmul) = {m['matmul_parameters'] / 1e9:.3f} B")
    for e in result["epochs"]:
        print(
            f"{e['source']:6} {e['model']:13} {e['train_questions']:5} q  {e['tokens'] / 1e6:6.2f} M tok  {e['flops']:.3e} FLOP  "
            f"MFU {e['mfu']:.0%}: {e['gpu_hours'] * 60:6.1f} GPU-min"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
