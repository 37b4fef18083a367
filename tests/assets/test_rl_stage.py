"""The whole pipeline with `rl.enabled`: GRPO continues the SFT adapter and is gated against it, not the base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import RL, TINY_PIPELINE


@pytest.mark.slow
def test_grpo_stage_is_evaluated_against_the_sft_adapter_it_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.stages import RunContext, run_all

    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    messages: list[str] = []
    result = run_all(RunContext(load_settings("demo", [*TINY_PIPELINE, *RL]), tmp_path / "run", tracking_uri, log=messages.append))

    sft_dir = tmp_path / "run" / "lora_adapter" / "adapter"
    assert result.adapter.starts_from == str(sft_dir) and result.adapter.path == str(tmp_path / "run" / "rl_adapter" / "adapter")
    assert result.report.reference_model == "SFT adapter"
    assert any(m.startswith("SFT adapter: execution accuracy") for m in messages)
    assert result.gate_reason.endswith(f"its SFT adapter's {result.report.base.execution_accuracy:.1%} on 12 test questions")
    assert json.loads(Path(result.report.path).read_text())["reference_model"] == "SFT adapter"

    client = MlflowClient(tracking_uri)
    rewards = client.get_metric_history(result.adapter.mlflow_run_id, "rl/reward")
    assert [m.step for m in rewards] == [1, 2]  # one per GRPO logging step, beside the SFT curves
    assert client.get_metric_history(result.adapter.mlflow_run_id, "rl/kl")
    assert "rl_adapter" in {a.path for a in client.list_artifacts(result.adapter.mlflow_run_id)}
