"""Prefill and decode-step cost of a model folder, float32 against bfloat16 weights: 16 prompts of 450 tokens, then steps of 1, 16 and 64 rows over a 450-token cache.

python benchmarks/decode_precision.py .state/models/converted/<SmolLM2 folder>
"""

import sys
import time

import torch
from transformers import AutoModelForCausalLM

path = sys.argv[1]
torch.manual_seed(0)
for dtype in (torch.float32, torch.bfloat16):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    with torch.inference_mode():
        ids = torch.randint(100, 40000, (16, 450))
        model(input_ids=ids[:2, :50])  # warm-up
        t = time.perf_counter()
        out = model(input_ids=ids, use_cache=True)
        pre = time.perf_counter() - t
        print(f"{dtype}: prefill 16x450 {pre:.2f} s ({pre / 16:.3f} s/prompt)", flush=True)
        for rows in (1, 16, 64):
            ids1 = torch.randint(100, 40000, (1, 450))
            cache = model(input_ids=ids1, use_cache=True).past_key_values
            cache.batch_repeat_interleave(rows)
            tok = torch.randint(100, 40000, (rows, 1))
            for _ in range(3):
                o = model(input_ids=tok, past_key_values=cache, use_cache=True)
            n = 10
            t = time.perf_counter()
            for _ in range(n):
                o = model(input_ids=tok, past_key_values=cache, use_cache=True)
            dt = (time.perf_counter() - t) / n
            print(f"{dtype}: decode step {rows:3d} rows {dt * 1000:6.1f} ms ({dt * 1000 / rows:5.1f} ms/row)", flush=True)
