"""What every stage gets: the settings, the run's folder, the MLflow tracking URI and a log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from t2sql_pipeline.core.settings import PipelineSettings


@dataclass(frozen=True)
class RunContext:
    settings: PipelineSettings
    run_dir: Path  # artifacts of this run: <artifacts>/<experiment>/<run id>
    tracking_uri: str
    log: Callable[[str], None] = print

    def stage_dir(self, stage: str) -> Path:
        path = self.run_dir / stage
        path.mkdir(parents=True, exist_ok=True)
        return path
