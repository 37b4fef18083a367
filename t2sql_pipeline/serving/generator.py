"""What the HTTP API calls to turn a question into SQL: a registered pyfunc model, or any object with `generate`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol


class SqlGenerator(Protocol):
    def generate(self, question: str, *, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        """SQL for one question, given the schema text or a database file (exactly one)."""
        ...

    def complete(self, prefix: str, *, question: str | None, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        """The query that starts with `prefix` verbatim, completed by the model."""
        ...


class PyfuncGenerator:
    """A loaded `mlflow.pyfunc` SQL model; one request generates at a time (the model is not thread-safe)."""

    def __init__(self, model: Any, params: dict[str, Any] | None = None) -> None:
        self.model = model
        self.params = params or None  # predict-time generation params, e.g. {"strategy": "execution_vote"}
        self._lock = threading.Lock()

    @classmethod
    def from_registry(cls, tracking_uri: str, model_uri: str, params: dict[str, Any] | None = None) -> PyfuncGenerator:
        import mlflow.pyfunc

        from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

        with process_tracking_uri(tracking_uri):
            return cls(mlflow.pyfunc.load_model(model_uri), params)

    def generate(self, question: str, *, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        import pandas as pd

        row = {"question": question, "schema": schema, "db_path": str(db_path) if db_path else None, "evidence": evidence}
        frame = pd.DataFrame([{key: value for key, value in row.items() if value is not None}])
        with self._lock:
            if self.params:  # past MLflow's params check: versions logged before params existed take them too
                return str(list(self.model.unwrap_python_model().predict(None, frame, self.params))[0])
            return str(list(self.model.predict(frame))[0])

    def complete(self, prefix: str, *, question: str | None, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        import pandas as pd

        row = {"question": question, "schema": schema, "db_path": str(db_path) if db_path else None, "evidence": evidence, "prefix": prefix}
        frame = pd.DataFrame([{key: value for key, value in row.items() if value is not None}])
        # The Python model itself, past MLflow's signature check: versions logged before the `prefix` column
        # existed would drop it there. Their code is this package's (models from code), so they complete too.
        with self._lock:
            return str(list(self.model.unwrap_python_model().predict(None, frame, self.params))[0])
