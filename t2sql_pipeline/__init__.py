"""t2sql_pipeline: a Dagster pipeline that fine-tunes small LLMs to write SQL."""

import logging
import os
import warnings

# OpenMP threads that busy-wait between parallel regions steal the cores from any other process, and
# with one busy neighbour on a 2-core machine a training step got 10x slower (benchmarks/cpu_threads.py).
# Set before torch is first imported (libgomp reads it once); a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# bitsandbytes warns on every import, on CPUs with AVX512-BF16, that an optional hub kernel for 4-bit
# matmuls on CPU is missing; the pipeline never runs 4-bit layers on a CPU (QLoRA falls back), so that
# one message is dropped, and every other bitsandbytes message still shows.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: not str(record.msg).startswith("Failed to load CPU gemm_4bit_forward from kernels-community")
)

# TRL 1.16 and PEFT still call transformers' deprecated `is_gradient_checkpointing` on every training and
# model load; the notice is about their code, not the user's, so that one message is dropped.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

__version__ = "0.1.0"
