"""Training killed mid-run (SIGKILL) resumes from its last complete checkpoint and ends at the same step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.tiny_models import make_rows, make_tiny_base, tiny_settings

MAX_STEPS, SAVE_STEPS = 24, 4
OVERRIDES = [
    f"training.max_steps={MAX_STEPS}",
    f"training.save_steps={SAVE_STEPS}",
    "training.logging_steps=1",
    "training.eval_steps=1000",
    "training.per_device_batch_size=2",
    "training.save_total_limit=2",
]
# The child slows each logged step down so that the test can kill it between checkpoints.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from datasets import load_from_disk
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.training.sft import train_adapter

    base, data, out, checkpoints, config_dir, *overrides = sys.argv[1:]
    settings = load_settings("demo", overrides=overrides, config_dir=Path(config_dir))
    dataset = load_from_disk(data)
    train_adapter(base, dataset, dataset, settings, Path(out), metrics_sink=lambda m, s: time.sleep(0.3), checkpoint_dir=Path(checkpoints))
    """
)


@pytest.mark.slow
def test_killed_training_resumes_from_the_last_complete_checkpoint(tmp_path: Path) -> None:
    from datasets import Dataset

    from t2sql_pipeline.core.training.sft import train_adapter

    base = make_tiny_base(tmp_path / "base")
    data = Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in make_rows(base)])
    data.save_to_disk(str(tmp_path / "data"))
    checkpoints = tmp_path / "checkpoints"
    config_dir = Path(__file__).resolve().parents[2] / "configs"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, base, str(tmp_path / "data"), str(tmp_path / "first"), str(checkpoints), str(config_dir), *OVERRIDES],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    target = checkpoints / f"checkpoint-{2 * SAVE_STEPS}" / "trainer_state.json"
    deadline = time.monotonic() + 90
    while not target.exists():
        assert child.poll() is None, f"training exited early: {child.stderr.read().decode()[-2000:] if child.stderr else ''}"
        assert time.monotonic() < deadline, "no checkpoint within 90 s"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "first" / "adapter").exists()  # it really died mid-run

    messages: list[str] = []
    outcome = train_adapter(base, data, data, tiny_settings(*OVERRIDES), tmp_path / "second", checkpoint_dir=checkpoints, log=messages.append)
    assert outcome.resumed_from_step >= 2 * SAVE_STEPS and outcome.resumed_from_step % SAVE_STEPS == 0
    assert any("resuming training from" in m for m in messages)
    assert outcome.global_step == MAX_STEPS
    steps = [row["step"] for row in json.loads((tmp_path / "second").joinpath("log_history.json").read_text()) if "loss" in row]
    assert steps[0] == 1 and steps[-1] == MAX_STEPS  # the restored history continues the killed run's
