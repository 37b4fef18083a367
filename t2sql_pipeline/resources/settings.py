"""The experiment's settings as a Dagster resource; overrides come from run config."""

from __future__ import annotations

import os

from dagster import ConfigurableResource
from pydantic import Field

from t2sql_pipeline.core.settings import PipelineSettings, load_settings


class PipelineSettingsResource(ConfigurableResource):
    """Which experiment to run (configs/experiments/<name>.yaml) and `key=value` overrides."""

    experiment: str = Field(default_factory=lambda: os.environ.get("T2SQL_EXPERIMENT", "demo"), description="experiment name or YAML path")
    overrides: list[str] = Field(default_factory=list, description="settings overrides, e.g. training.max_steps=50")

    def load(self) -> PipelineSettings:
        return load_settings(self.experiment, self.overrides)
