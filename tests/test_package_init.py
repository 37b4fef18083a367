"""What importing the package sets up for every process: no spinning OpenMP threads, no bitsandbytes CPU-kernel notice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)


def test_openmp_threads_wait_passively_unless_the_user_chose() -> None:
    assert run_python("import t2sql_pipeline, os; print(os.environ['OMP_WAIT_POLICY'])").stdout.strip() == "PASSIVE"
    chosen = run_python("import os; os.environ['OMP_WAIT_POLICY'] = 'ACTIVE'; import t2sql_pipeline; print(os.environ['OMP_WAIT_POLICY'])")
    assert chosen.stdout.strip() == "ACTIVE"


@pytest.mark.slow
def test_the_bitsandbytes_cpu_kernel_notice_is_dropped() -> None:
    if NOTICE not in run_python("import bitsandbytes").stderr:
        pytest.skip("bitsandbytes prints no CPU-kernel notice on this CPU (no AVX512-BF16): nothing to silence")
    assert NOTICE not in run_python("import t2sql_pipeline, bitsandbytes").stderr
