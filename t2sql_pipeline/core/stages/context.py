"""What every stage gets: the settings, the run's folder, the MLflow tracking URI and a log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from t2sql_pipeline.core.run_folder import RunFolder
from t2sql_pipeline.core.settings import PipelineSettings


@dataclass(frozen=True)
class RunContext:
    settings: PipelineSettings
    run_dir: Path  # artifacts of this run: <artifacts>/<experiment>/<run id>
    tracking_uri: str
    log: Callable[[str], None] = print

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    def stage_dir(self, stage: str) -> Path:
        """The stage's folder of this run, created."""
        path = self.folder.stage(stage)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def writes(self, path: Path) -> Path:
        """`path` (a file or folder of this run's layout) with its parent folder created."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
