"""Shared fixtures: a registered pyfunc SQL model, built once per test session by the real pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The smallest demo that still runs every stage (also what tests/assets/test_materialize.py materializes).
# Every asset of the pipeline, in the order they materialize (one list for the definition, job and UI tests).
PIPELINE_ASSETS = (
    "raw_spider",
    "raw_bird",
    "stratified_sample",
    "base_model",
    "tokenized_splits",
    "lora_adapter",
    "rl_adapter",
    "evaluation_report",
    "registered_adapter",
)

TINY_PIPELINE = [
    "data.synthetic.rows_per_table=30",
    "data.synthetic.spider_questions_per_database=40",
    "data.synthetic.bird_questions_per_database=15",
    "training.max_steps=4",
    "training.eval_steps=2",
    "training.logging_steps=1",
    "generation.max_new_tokens=12",
    "evaluation.max_examples=12",
]

# GRPO after SFT, as small as it runs: 2 steps of 4 questions, 2 completions each.
RL = ["rl.enabled=true", "rl.max_steps=2", "rl.per_device_batch_size=4", "rl.num_generations=2", "rl.max_completion_length=12", "rl.logging_steps=1"]

# The demo, made quick: small databases and question sets, 120 steps instead of 600, 32 test questions.
# Checked with `t2sql materialize --experiment demo --set ...`: the adapter learns enough to beat its
# base model (0% EX, random weights), so the blocking check `beats_base_model` passes.
QUICK_DEMO = (
    "data.synthetic.rows_per_table=30",
    "data.synthetic.spider_questions_per_database=150",
    "data.synthetic.bird_questions_per_database=40",
    "training.max_steps=120",
    "training.eval_steps=60",
    "training.save_strategy=no",
    "generation.max_new_tokens=48",
    "evaluation.max_examples=32",
)


@dataclass(frozen=True)
class RegisteredSqlModel:
    """A tiny demo model trained and registered in its own T2SQL_HOME."""

    home: Path
    tracking_uri: str
    name: str  # the registered model's name
    version: str
    db_dir: Path  # Spider layout: <db_dir>/<db_id>/<db_id>.sqlite (shop, school, flights)
    run_dir: Path  # the pipeline run's artifacts (base_model/, lora_adapter/, ...)

    @property
    def reference(self) -> str:
        """By version, not alias: whether the gate made it `@champion` depends on 4 training steps."""
        return f"{self.name}/{self.version}"

    def env(self) -> dict[str, str]:
        """Environment for a process that should see this registry."""
        return {"T2SQL_HOME": str(self.home), "MLFLOW_TRACKING_URI": self.tracking_uri, "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="session")
def registered_sql_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegisteredSqlModel]:
    """Run the demo pipeline with TINY_PIPELINE settings (~30 s on 2 cores) and register its model."""

    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.stages import RunContext, registered_adapter, run_all

    home = tmp_path_factory.mktemp("registered_sql_model")
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"T2SQL_HOME": str(home), "MLFLOW_TRACKING_URI": tracking_uri, "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
            patch.setenv(key, value)
        settings = load_settings("demo", TINY_PIPELINE)
        run_dir = home / "artifacts" / settings.experiment.name / "fixture"
        ctx = RunContext(settings, run_dir, tracking_uri, log=lambda _m: None)
        result = run_all(ctx)
        # 4 training steps rarely beat the base, so the gate usually refuses; these tests are about
        # loading a registered version, so the fixture registers it itself (the gate is tested in
        # tests/assets/test_materialize.py (fails), tests/assets/test_gate_passes.py (passes) and tests/test_cli_materialize.py).
        registration = result.registration or registered_adapter(ctx, result.splits, result.base, result.adapter, result.report)
    yield RegisteredSqlModel(
        home=home,
        tracking_uri=tracking_uri,
        name=registration.registered_model,
        version=registration.registered_version,
        db_dir=run_dir / "raw_spider" / "synthetic_spider" / "database",
        run_dir=run_dir,
    )
