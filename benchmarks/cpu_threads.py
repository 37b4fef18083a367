"""CPU thread settings for training: OpenMP's wait policy with and without another busy process.

Each configuration runs in a fresh interpreter (OpenMP reads OMP_WAIT_POLICY once, when torch loads)
and times LoRA forward+backward steps of a real model on a fixed batch; a "busy" configuration
first starts a process that spins one core, as a second job on a 2-core machine would.

    python benchmarks/cpu_threads.py --model .state/models/converted/SmolLM2-135M-Instruct.Q4_1-<hash>
    python benchmarks/cpu_threads.py --tiny          # smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

STEP_SCRIPT = r"""
import json, sys, time, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM
model_path, batch, length, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
if model_path == "tiny":
    model = LlamaForCausalLM(LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4))
else:
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="float32")
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
ids = torch.randint(3, model.config.vocab_size, (batch, length))
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
times = []
for _ in range(steps + 1):  # the first step warms up allocators and kernels
    started = time.perf_counter()
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step(); optimizer.zero_grad()
    times.append(time.perf_counter() - started)
best = sorted(times[1:])[len(times[1:]) // 2]
print(json.dumps({"median_step_s": best, "tokens_per_second": batch * length / best}))
"""

SPINNER = "while True: pass"


def measure(model: str, wait_policy: str | None, busy: bool, batch: int, length: int, steps: int, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER]) if busy else None
    try:
        done = subprocess.run(
            [sys.executable, "-c", STEP_SCRIPT, model, str(batch), str(length), str(steps), str(threads)], env=env, capture_output=True, text=True, check=True
        )
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wait_policy": wait_policy or "default (active)", "busy_neighbour": busy, "threads": threads, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Hugging Face model folder")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model (smoke test)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=320)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if not (args.tiny or args.model):
        parser.error("give --model FOLDER or --tiny")
    model = "tiny" if args.tiny else args.model
    rows = []
    for busy in (False, True):
        for policy, threads in ((None, 2), ("PASSIVE", 2), ("PASSIVE", 1)):
            started = time.perf_counter()
            row = measure(model, policy, busy, args.batch, args.length, args.steps, threads)
            rows.append(row)
            print(
                f"busy={busy!s:5} {row['wait_policy']:17} threads={threads}: {row['median_step_s']:.2f} s/step, "
                f"{row['tokens_per_second']:.0f} tokens/s ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
