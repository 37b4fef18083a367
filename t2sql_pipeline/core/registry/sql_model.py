"""The registered model as an MLflow pyfunc: questions (+ schema or database file, evidence) in, SQL out.

Each registered version is one of these, so `mlflow.pyfunc.load_model("models:/NAME@champion")`
and `mlflow models serve` work on it. Its artifacts are the LoRA adapter (with its
tokenizer) and, when the base model is a local folder (the demo's, or a converted GGUF file), the base model;
a hub base is recorded by name and revision and fetched when the model loads. Its
`model_config` holds the pipeline settings and the prompt format resolved at training,
so the prompt built here is the training prompt.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The pyfunc class needs its base at import time (and MLflow reads predict's `pd.DataFrame` hint):
# import this module only where a model is logged or loaded.
import pandas as pd
from mlflow.pyfunc import PythonModel

from t2sql_pipeline.core.inference.requests import INPUT_COLUMNS, SqlModelInputError, complete_requests, generate_sql, requests_from_frame
from t2sql_pipeline.core.settings import PipelineSettings, settings_of_logged_model

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

LOGGED_MODEL_NAME = "sql_model"  # the model's name inside its run
# (name, MLflow type, default): `predict(..., params={"strategy": "execution_vote", "num_candidates": 8})`.
PREDICT_PARAMS = (
    ("strategy", "string", "greedy"),
    ("num_candidates", "long", 8),
    ("temperature", "double", 0.8),
    ("top_p", "double", 0.95),
    ("constrained", "string", "none"),  # schema: every answer parses and names only the database's tables and columns
)


@dataclass(frozen=True)
class LoggedSqlModel:
    model_uri: str  # models:/<model id>
    model_id: str


def sql_model_signature() -> ModelSignature:
    """question, schema, db_path, evidence, prefix strings in (each optional to MLflow: a completion needs no
    question; `requests_from_frame` checks each row); one SQL string per row out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", name, required=False) for name in INPUT_COLUMNS])
    # Predict-time generation settings (the registered model's own `generation.*` are the defaults).
    params = ParamSchema([ParamSpec(name, kind, default) for name, kind, default in PREDICT_PARAMS])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("string")]), params=params)


class SqlModel(PythonModel):
    """The pyfunc: `load_context` loads base + adapter (merged unless 4-bit); `predict` returns SQL per row."""

    def load_context(self, context: Any) -> None:
        from t2sql_pipeline.core.inference.loading import load_for_inference
        from t2sql_pipeline.core.training.base_models import resolve_pretrained

        config = context.model_config
        self.settings = settings_of_logged_model(config["settings"])  # a version logged before a setting existed gets its default
        self.prompt_format = config["prompt_format"]
        base = context.artifacts.get("base") or resolve_pretrained(self.settings.model)  # hub base: name + revision in settings
        self.base_path, self.adapter_path = str(base), str(context.artifacts["adapter"])  # kept for `t2sql export`
        self.model, self.tokenizer = load_for_inference(self.base_path, self.adapter_path, self.settings)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> list[str]:
        """SQL per row; rows with a `prefix` are completions of it (versions registered before the prefix column
        existed drop it in MLflow's signature check: call this method on `unwrap_python_model()` for those)."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        requests = requests_from_frame(frame)
        settings = with_generation_params(self.settings, params)
        sql = [""] * len(requests)
        for indices, run in (
            ([i for i, r in enumerate(requests) if r.prefix is None], generate_sql),
            ([i for i, r in enumerate(requests) if r.prefix is not None], complete_requests),
        ):
            if indices:
                for index, text in zip(indices, run(self.model, self.tokenizer, settings, self.prompt_format, [requests[i] for i in indices]), strict=True):
                    sql[index] = text
        return sql


def with_generation_params(settings: PipelineSettings, params: dict[str, Any] | None) -> PipelineSettings:
    """The model's settings with predict-time generation params applied, validated like the settings files.

    >>> from t2sql_pipeline.core.settings import load_settings
    >>> with_generation_params(load_settings("demo"), {"strategy": "execution_vote", "num_candidates": 4}).generation.num_candidates
    4
    """
    chosen = {key: value for key, value in (params or {}).items() if value is not None}
    unknown = sorted(set(chosen) - {name for name, _, _ in PREDICT_PARAMS})
    if unknown:
        raise SqlModelInputError(f"unknown params {unknown}; expected {[name for name, _, _ in PREDICT_PARAMS]}")
    if not chosen:
        return settings
    from pydantic import ValidationError

    from t2sql_pipeline.core.settings import GenerationSettings

    try:
        generation = GenerationSettings.model_validate({**settings.generation.model_dump(), **chosen})
    except ValidationError as error:
        raise SqlModelInputError(f"bad params {chosen}: {error.errors()[0]['msg']}") from None
    return settings.model_copy(update={"generation": generation})


def pip_requirements() -> list[str]:
    """Pinned versions of what the model needs, as installed: given explicitly, so logging never infers them."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = []
    for package in ("mlflow", "torch", "transformers", "peft", "pandas", "pydantic", "sqlglot", "t2sql_pipeline"):
        try:
            requirements.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return requirements


def log_sql_model(tracking_uri: str, run_id: str, adapter_dir: str, base_path: str, settings: PipelineSettings, prompt_format: str) -> LoggedSqlModel:
    """Log the pyfunc under `run_id`; the base model travels as an artifact only when it is a local folder."""
    import mlflow

    # The demo's model, a local folder and a converted GGUF file exist on this machine only: they travel with the model.
    local_base = settings.model.source in {"demo", "gguf"} or Path(settings.model.name_or_path).is_dir()
    artifacts = {"adapter": adapter_dir, **({"base": base_path} if local_base else {})}
    config = {"settings": settings.model_dump(mode="json"), "prompt_format": prompt_format}
    # The fluent API logs to the global tracking URI and the active run: point both at ours for this call only.
    with process_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # No input example: MLflow would load the model and generate once more just to check it; the signature is explicit.
        warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
        info = mlflow.pyfunc.log_model(
            name=LOGGED_MODEL_NAME,
            python_model=str(Path(__file__).with_name("sql_model_code.py")),  # models from code: nothing pickled
            artifacts=artifacts,
            model_config=config,
            signature=sql_model_signature(),
            pip_requirements=pip_requirements(),
        )
    return LoggedSqlModel(info.model_uri, info.model_id)


@contextmanager
def process_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI at `uri` for a block, then restore it and `MLFLOW_TRACKING_URI`.

    The fluent API (`log_model`) and the SQL registry store (resolving a `models:/<id>` source)
    read the process-wide URI, not the client's. MLflow's own `_use_tracking_uri` unsets the
    environment variable on the way out, so the previous state is restored by hand.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils

    previous, variable = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if variable is not None:
            os.environ["MLFLOW_TRACKING_URI"] = variable
