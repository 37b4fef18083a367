"""Shared fixtures: a registered pyfunc SQL model, built once per test session by the real pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The smallest demo that still runs every stage (also what tests/assets/test_materialize.py materializes).
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


@dataclass(frozen=True)
class RegisteredSqlModel:
    """A tiny demo model trained and registered in its own T2SQL_HOME; `@champion` points at it."""

    home: Path
    tracking_uri: str
    name: str  # the registered model's name
    version: str
    db_dir: Path  # Spider layout: <db_dir>/<db_id>/<db_id>.sqlite (shop, school, flights)
    run_dir: Path  # the pipeline run's artifacts (base_model/, lora_adapter/, ...)

    @property
    def reference(self) -> str:
        return f"{self.name}@champion"

    def env(self) -> dict[str, str]:
        """Environment for a process that should see this registry."""
        return {"T2SQL_HOME": str(self.home), "MLFLOW_TRACKING_URI": self.tracking_uri, "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="session")
def registered_sql_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegisteredSqlModel]:
    """Run the demo pipeline with TINY_PIPELINE settings (~30 s on 2 cores) and register its model."""
    from mlflow import MlflowClient

    from t2sql_pipeline.core.stages import RunContext, run_all
    from t2sql_pipeline.core.registry.model_registry import CHAMPION
    from t2sql_pipeline.core.settings import load_settings

    home = tmp_path_factory.mktemp("registered_sql_model")
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"T2SQL_HOME": str(home), "MLFLOW_TRACKING_URI": tracking_uri, "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
            patch.setenv(key, value)
        settings = load_settings("demo", TINY_PIPELINE)
        run_dir = home / "artifacts" / settings.experiment.name / "fixture"
        report = run_all(RunContext(settings, run_dir, tracking_uri, log=lambda _m: None))
        client = MlflowClient(tracking_uri)
        if not report.promoted:  # 4 training steps rarely beat the base; these tests are about loading, not the gate
            client.set_registered_model_alias(report.registered_model, CHAMPION, report.registered_version)
    yield RegisteredSqlModel(
        home=home,
        tracking_uri=tracking_uri,
        name=report.registered_model,
        version=report.registered_version,
        db_dir=run_dir / "raw_spider" / "synthetic_spider" / "database",
        run_dir=run_dir,
    )
