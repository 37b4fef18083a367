"""t2sql_pipeline: a Dagster pipeline that fine-tunes small LLMs to write SQL."""

import os

# OpenMP threads that busy-wait between parallel regions steal the cores from any other process, and
# with one busy neighbour on a 2-core machine a training step got 10x slower (benchmarks/cpu_threads.py).
# Set before torch is first imported (libgomp reads it once); a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
