"""Stores what assets return (small pydantic manifests of paths and figures) as JSON files.

The large artifacts themselves (datasets, models, adapters) are written by the
stages under the run's artifact folder; the manifests point to them.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from t2sql_pipeline.core.records import Manifest
from t2sql_pipeline.core.state import artifacts_dir


class ManifestIOManager(ConfigurableIOManager):
    base_dir: str = Field(default_factory=lambda: str(artifacts_dir() / "manifests"))

    def _path(self, context: OutputContext | InputContext) -> Path:
        return Path(self.base_dir, *context.asset_key.path).with_suffix(".json")

    def handle_output(self, context: OutputContext, obj: Manifest) -> None:
        if not isinstance(obj, Manifest):
            raise TypeError(f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; expected a Manifest")
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = f"{type(obj).__module__}:{type(obj).__name__}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"type": kind, "manifest": obj.model_dump()}, indent=1), encoding="utf-8")
        tmp.replace(path)  # a half-written manifest is never read as done

    def load_input(self, context: InputContext) -> Manifest:
        path = self._path(context)
        if not path.is_file():
            raise FileNotFoundError(f"no manifest for {context.asset_key.to_user_string()} at {path}: materialize it first")
        stored = json.loads(path.read_text(encoding="utf-8"))
        module, name = stored["type"].split(":")
        return getattr(importlib.import_module(module), name).model_validate(stored["manifest"])
