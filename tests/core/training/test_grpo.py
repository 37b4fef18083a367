"""GRPO after SFT on the tiny test model: a few real GRPOTrainer steps with the execution reward."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.training.grpo import prompt_text, train_grpo_adapter
from t2sql_pipeline.core.training.sft import train_adapter
from tests.tiny_models import QUESTIONS, make_rows, make_tiny_base, tiny_settings


def test_prompts_survive_the_round_trip_through_text(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    base = make_tiny_base(tmp_path / "base")
    tokenizer = AutoTokenizer.from_pretrained(base)
    for row in make_rows(base, repeat=1):
        prompt_ids = row["input_ids"][: row["prompt_length"]]
        assert tokenizer(prompt_text(tokenizer, prompt_ids))["input_ids"] == prompt_ids


@pytest.mark.slow
def test_a_few_grpo_steps_continue_the_sft_adapter_and_log_the_reward(tmp_path: Path) -> None:
    from datasets import Dataset

    db = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(db)
    for table, column in QUESTIONS:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({column} TEXT)")
        conn.execute(f"INSERT INTO {table} VALUES ('a'), ('b'), ('a')")
    conn.commit()
    conn.close()
    base = make_tiny_base(tmp_path / "base")
    rows = make_rows(base, repeat=2)
    for row, (table, column) in zip(rows, QUESTIONS * 2, strict=True):
        row.update(prompt_ids=row["input_ids"][: row["prompt_length"]], gold_sql=f"SELECT {column}, count(*) FROM {table} GROUP BY {column}", db_path=str(db))
    data = Dataset.from_list(rows)
    settings = tiny_settings(
        "training.max_steps=4", "training.eval_steps=2", "training.logging_steps=1",
        "rl.enabled=true", "rl.max_steps=2", "rl.per_device_batch_size=4", "rl.num_generations=2",
        "rl.max_completion_length=12", "rl.logging_steps=1", "rl.reward.partial_credit=true",
    )  # fmt: skip
    sft = train_adapter(base, data, data, settings, tmp_path / "sft", log=lambda _m: None, mlflow_run_id="run-1")
    logged: list[tuple[int, dict[str, float]]] = []
    grpo = train_grpo_adapter(
        base, sft.path, sft.mlflow_run_id, data, settings, tmp_path / "grpo", metrics_sink=lambda m, s: logged.append((s, m)), log=lambda _m: None
    )

    assert grpo.starts_from == sft.path and grpo.mlflow_run_id == "run-1" and grpo.global_step == 2
    assert Path(grpo.path, "adapter_model.safetensors").is_file() and Path(grpo.loss_curve_path).is_file()
    rewarded = [m for _, m in logged if "reward" in m]
    assert len(rewarded) == 2  # one row per logging step
    for metrics in rewarded:
        assert 0.0 <= metrics["reward"] <= 1.0 and "kl" in metrics and "completions/mean_length" in metrics
        assert any(key.endswith("execution_match_rate") for key in metrics) and any(key.endswith("executable_rate") for key in metrics)
    history = json.loads((tmp_path / "grpo" / "log_history.json").read_text())
    assert any("reward" in row for row in history)


def test_grpo_loads_its_base_through_the_loader_sft_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """4-bit loading and the attention setting come from the hardware plan, as in SFT."""
    from dataclasses import replace

    from datasets import Dataset

    from t2sql_pipeline.core.training import base_models, grpo
    from t2sql_pipeline.core.training.hardware import resolve_hardware

    base = make_tiny_base(tmp_path / "base")
    row = make_rows(base, repeat=1)[0]
    row.update(prompt_ids=row["input_ids"][: row["prompt_length"]], gold_sql="SELECT 1", db_path=str(tmp_path / "x.sqlite"))
    settings = tiny_settings("rl.enabled=true")
    plan = replace(resolve_hardware(settings), attention="eager")
    monkeypatch.setattr(grpo, "resolve_hardware", lambda _settings: plan)
    seen = []

    def loader(path: str, settings_: object, plan_: object) -> None:
        seen.append((path, settings_, plan_))
        raise RuntimeError("loaded")

    monkeypatch.setattr(base_models, "load_planned_base", loader)
    with pytest.raises(RuntimeError, match="loaded"):
        train_grpo_adapter(base, base, "run-1", Dataset.from_list([row]), settings, tmp_path / "grpo", log=lambda _m: None)
    assert seen == [(base, settings, plan)]
