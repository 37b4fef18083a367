"""Does an exported model answer what the registered model answers? Greedy SQL on held-out questions, side by side in one run.

Variants: the registered version as `t2sql generate` loads it; its `t2sql export` folders loaded back
with transformers (merged weights; GGUF f16 and q8_0 through `gguf_file=`); and, when
`llama-cpp-python` is installed, the GGUF files run by llama.cpp. Every variant gets the same prompts
(built with its own tokenizer, checked equal to the registered model's) and greedy decoding.
Reported per variant: answers identical to the registered model's, EX against the gold SQL,
generated tokens per second.

    python benchmarks/export_agreement.py --model t2sql-spider-train-smollm2-135m/1 \
        --run-dir .state/artifacts/t2sql-spider-train-smollm2-135m/<run> \
        --export merged=DIR --export gguf-f16=DIR --export gguf-q8_0=DIR --questions 20 --out agreement.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


@dataclass(frozen=True)
class VariantResult:
    variant: str
    runtime: str
    same_prompts: bool
    identical_answers: int
    questions: int
    execution_accuracy: float
    generated_tokens: int
    seconds: float
    tokens_per_second: float
    differing: list[dict[str, str]]


def held_out_rows(run_dir: Path, count: int) -> list[dict[str, Any]]:
    """`count` test questions spread evenly over the run's test split (which is ordered by database)."""
    from datasets import load_from_disk

    from t2sql_pipeline.core.run_folder import RunFolder

    rows = load_from_disk(str(RunFolder(run_dir).tokenized_splits))["test"].to_list()
    step = max(1, len(rows) // count)
    return rows[::step][:count]


def hf_answers(model: Any, tokenizer: Any, prompts: list[list[int]], settings: Any) -> tuple[list[str], int, float]:
    from t2sql_pipeline.core.inference.generation import generate_answers
    from t2sql_pipeline.core.sql.extraction import extract_sql

    g = settings.generation
    started = time.perf_counter()
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=g.max_new_tokens, batch_size=g.batch_size)
    seconds = time.perf_counter() - started
    return [extract_sql(a.text) for a in answers], sum(a.new_tokens for a in answers), seconds


def llama_cpp_answers(gguf_path: Path, prompts: list[list[int]], settings: Any, threads: int) -> tuple[list[str], int, float]:
    """Greedy completions by llama.cpp, one prompt at a time (its Python binding has no batched generate)."""
    from llama_cpp import Llama

    from t2sql_pipeline.core.sql.extraction import extract_sql

    llm = Llama(model_path=str(gguf_path), n_ctx=settings.prompt.max_seq_length + settings.generation.max_new_tokens, n_threads=threads, verbose=False)
    sql, tokens, started = [], 0, time.perf_counter()
    try:
        for prompt in prompts:
            out = llm.create_completion(prompt, max_tokens=settings.generation.max_new_tokens, temperature=0.0)
            sql.append(extract_sql(out["choices"][0]["text"]))
            tokens += out["usage"]["completion_tokens"]
    finally:
        llm.close()
    return sql, tokens, time.perf_counter() - started


def main(argv: list[str] | None = None) -> list[VariantResult]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the registered version, NAME/version or NAME@alias")
    parser.add_argument("--run-dir", required=True, type=Path, help="the version's pipeline run folder (its test split)")
    parser.add_argument("--export", action="append", default=[], metavar="NAME=DIR", help="an export folder (repeatable)")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import mlflow.pyfunc
    import torch

    from t2sql_pipeline.core.inference.requests import SqlRequest, request_prompt_ids
    from t2sql_pipeline.core.registry.export import GGUF_FILE, load_export
    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri
    from t2sql_pipeline.core.scoring.by_database import score_by_database
    from t2sql_pipeline.core.state import mlflow_tracking_uri

    torch.set_num_threads(args.threads)
    with process_tracking_uri(mlflow_tracking_uri()):
        served = mlflow.pyfunc.load_model(f"models:/{args.model}").unwrap_python_model()
    settings, fmt = served.settings, served.prompt_format
    rows = held_out_rows(args.run_dir, args.questions)
    requests = [SqlRequest(r["question"], None, r["db_path"], r.get("evidence") or None) for r in rows]
    reference_prompts = [request_prompt_ids(served.tokenizer, settings, fmt, request) for request in requests]

    variants: list[tuple[str, str, Any]] = [("registered", "transformers", (served.model, served.tokenizer))]
    for spec in args.export:
        name, _, folder = spec.partition("=")
        variants.append((name, "transformers", Path(folder)))
        if (Path(folder) / GGUF_FILE).is_file():
            try:
                import llama_cpp  # noqa: F401
            except ImportError:
                print(f"{name}: llama-cpp-python is not installed; llama.cpp not measured")
            else:
                variants.append((name, "llama.cpp", Path(folder) / GGUF_FILE))

    results, reference = [], None
    for name, runtime, source in variants:
        if runtime == "llama.cpp":
            same_prompts = True  # the same token ids are handed to llama.cpp
            sql, tokens, seconds = llama_cpp_answers(source, reference_prompts, settings, args.threads)
        else:
            model, tokenizer = source if isinstance(source, tuple) else load_export(source)
            prompts = [request_prompt_ids(tokenizer, settings, fmt, request) for request in requests]
            same_prompts = prompts == reference_prompts
            sql, tokens, seconds = hf_answers(model, tokenizer, prompts, settings)
        reference = reference or sql
        scores = score_by_database(rows, sql, timeout_s=settings.evaluation.timeout_s, workers=1)
        differing = [{"question": r["question"], "registered": a, "this": b} for r, a, b in zip(rows, reference, sql, strict=True) if a != b]
        result = VariantResult(
            variant=name,
            runtime=runtime,
            same_prompts=same_prompts,
            identical_answers=len(rows) - len(differing),
            questions=len(rows),
            execution_accuracy=sum(bool(s.exec_match) for s in scores) / len(rows),
            generated_tokens=tokens,
            seconds=round(seconds, 2),
            tokens_per_second=round(tokens / seconds, 1) if seconds else 0.0,
            differing=differing,
        )
        results.append(result)
        print(
            f"{name:<12} {runtime:<12} prompts equal {same_prompts!s:<5}  identical {result.identical_answers}/{result.questions}  "
            f"EX {result.execution_accuracy:.1%}  {result.tokens_per_second} tokens/s ({tokens} tokens, {seconds:.1f} s)"
        )
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
