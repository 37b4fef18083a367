"""The training process dies with its launcher: killing the launcher outright (SIGKILL) leaves no trainer behind,
neither one process nor torchrun and its workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from t2sql_pipeline.core.training.launch import MARKER_ENV, STOP_GRACE_S, request_for, training_command
from tests.assets.tiny_training import make_tiny_upstream, training_processes
from tests.tiny_models import tiny_settings

# A launcher that starts the training command and waits, like the Dagster step process does. The command is
# built here, in the test, so the launcher puts its own pid where torchrun's tie expects the launcher's.
LAUNCHER_PID_SLOT = "4194304"  # above Linux's pid_max: never a real process
LAUNCHER = f"import os, subprocess, sys; subprocess.Popen([str(os.getpid()) if a == '{LAUNCHER_PID_SLOT}' else a for a in sys.argv[1:]]).wait()"


@pytest.mark.slow
@pytest.mark.parametrize("num_processes", [1, 2], ids=["one-process", "torchrun"])
def test_training_process_dies_with_a_killed_launcher(tmp_path: Path, num_processes: int) -> None:
    splits, base = make_tiny_upstream(tmp_path)
    steps = ("training.max_steps=100000", "training.eval_steps=100000", "training.save_steps=100000")
    settings = tiny_settings(*steps, "training.per_device_batch_size=2", f"training.num_processes={num_processes}")
    request_path, _ = request_for(settings, splits, base, tmp_path / "run", f"sqlite:///{tmp_path / 'mlflow.db'}")
    env = {**os.environ, MARKER_ENV: str(request_path), "HF_HUB_OFFLINE": "1"}
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, *training_command(settings, request_path, launcher_pid=int(LAUNCHER_PID_SLOT))], env=env)
    deadline = time.monotonic() + 120
    while not [pid for pid in training_processes(str(request_path)) if pid != launcher.pid]:
        assert launcher.poll() is None and time.monotonic() < deadline, "the training process did not start"
        time.sleep(0.2)
    time.sleep(3 * num_processes)  # past imports: into model loading or training (torchrun: its workers started)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait(timeout=10)
    deadline = time.monotonic() + 15 + STOP_GRACE_S * (num_processes > 1)  # torchrun gives its workers a grace
    while training_processes(str(request_path)):
        assert time.monotonic() < deadline, f"orphaned training processes {training_processes(str(request_path))}"
        time.sleep(0.2)
