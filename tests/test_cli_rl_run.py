"""`t2sql rl-run`: GRPO on a finished run's SFT adapter; `t2sql evaluate-run` then scores it, or the SFT adapter on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from t2sql_pipeline.cli import main
from tests.conftest import RL, TINY_PIPELINE

SETTINGS = [a for o in [*TINY_PIPELINE, *RL[1:]] for a in ("--set", o)]  # RL without rl.enabled: rl-run turns it on


@pytest.mark.slow
def test_grpo_on_a_finished_run_then_both_adapters_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.stages import RunContext, run_all

    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    settings = load_settings("demo", TINY_PIPELINE)
    run_dir = tmp_path / "artifacts" / settings.experiment.name / "sft-only"
    sft_run = run_all(RunContext(settings, run_dir, tracking_uri, log=lambda _m: None)).adapter.mlflow_run_id
    (run_dir / "rl_adapter.partial" / "adapter").mkdir(parents=True)  # what an interrupted rl-run leaves: never scored, replaced

    evaluate = ["evaluate-run", "--experiment", "demo", "--run", "sft-only", *[a for o in TINY_PIPELINE for a in ("--set", o)]]
    assert main([*evaluate, "--name", "before"]) == 0
    assert json.loads((run_dir / "evaluations" / "before" / "report.json").read_text())["adapter"] == str(run_dir / "lora_adapter" / "adapter")

    assert main(["rl-run", "--experiment", "demo", "--run", "sft-only", *SETTINGS]) == 0
    assert f"GRPO adapter: {run_dir / 'rl_adapter' / 'adapter'} (2 steps" in capsys.readouterr().out
    assert (run_dir / "rl_adapter" / "adapter" / "adapter_model.safetensors").is_file() and not (run_dir / "rl_adapter.partial").exists()
    client = MlflowClient(tracking_uri)
    assert [m.step for m in client.get_metric_history(sft_run, "rl/reward")] == [1, 2]  # in the SFT run, beside its curves
    assert json.loads(client.get_run(sft_run).data.tags["rl_settings"])["max_steps"] == 2
    assert "rl_adapter" in {a.path for a in client.list_artifacts(sft_run)}

    assert main([*evaluate, "--name", "grpo"]) == 0
    assert main([*evaluate, "--adapter", "sft", "--name", "sft"]) == 0
    scored = {name: json.loads((run_dir / "evaluations" / name / "report.json").read_text())["adapter"] for name in ("grpo", "sft")}
    assert scored == {"grpo": str(run_dir / "rl_adapter" / "adapter"), "sft": str(run_dir / "lora_adapter" / "adapter")}

    capsys.readouterr()
    assert main([*evaluate, "--adapter", "sft", "--name", "sft"]) == 2  # an earlier evaluation is never overwritten
    assert (
        capsys.readouterr().err.strip()
        == f"t2sql evaluate-run: error: {run_dir / 'evaluations' / 'sft'}: an evaluation of that name exists; choose another --name"
    )
    assert main(["rl-run", "--experiment", "demo", "--run", "sft-only", *SETTINGS]) == 2
    assert capsys.readouterr().err.strip() == (
        f"t2sql rl-run: error: {run_dir / 'rl_adapter'}: the run already has a GRPO adapter; move it away to train another"
    )


def test_a_run_that_is_not_there_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    assert main(["rl-run", "--experiment", "demo", "--run", "nope"]) == 2
    assert capsys.readouterr().err.strip() == f"t2sql rl-run: error: {tmp_path}/artifacts/t2sql-demo/nope: no such run folder"
