"""Where the pipeline keeps its state: one ignored folder in the checkout, overridable.

`T2SQL_HOME` moves the whole folder; `DAGSTER_HOME` and `MLFLOW_TRACKING_URI`
override their parts as usual.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    return Path(os.environ.get("T2SQL_HOME", REPO_ROOT / ".state")).resolve()


def artifacts_dir() -> Path:
    return state_dir() / "artifacts"


def models_dir() -> Path:
    """Base models fetched or converted once and shared by every run (e.g. GGUF conversions)."""
    return state_dir() / "models"


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def mlflow_artifact_root() -> Path:
    return state_dir() / "mlartifacts"
