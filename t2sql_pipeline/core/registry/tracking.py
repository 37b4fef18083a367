"""One MLflow run per pipeline run: settings as params, curves, artifacts, and the registered adapter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.registry.model_registry import CandidateScore, Registration, ensure_experiment, is_not_found, register_adapter
from t2sql_pipeline.core.settings import PipelineSettings

if TYPE_CHECKING:
    from mlflow import MlflowClient


def flatten(settings: PipelineSettings) -> dict[str, str]:
    """`{"training.learning_rate": "0.0002", ...}` for MLflow params."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            flat[prefix] = str(value)

    walk("", settings.model_dump())
    return flat


@dataclass
class TrackedRun:
    client: MlflowClient
    run_id: str

    @classmethod
    def start(cls, tracking_uri: str, settings: PipelineSettings, run_name: str, *, continue_run: str | None = None) -> TrackedRun:
        """A new run tagged with this process; or `continue_run` (a training resumed from its checkpoint) reopened.

        Runs of the experiment left RUNNING by a process that is gone are ended as KILLED first.
        """
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        from t2sql_pipeline.core.training.checkpoint_lock import END_REASON_TAG, HOST_TAG, PID_TAG, Holder, end_dead_runs

        client = MlflowClient(tracking_uri)
        experiment_id = ensure_experiment(client, settings.experiment.name)
        me = Holder.me()
        process_tags = {PID_TAG: str(me.pid), HOST_TAG: me.host}
        if continue_run is not None:
            try:
                client.get_run(continue_run)
            except MlflowException as error:
                if not is_not_found(error):
                    raise
                continue_run = None  # the run was deleted: start a new one
        end_dead_runs(client, experiment_id, keep=continue_run)
        if continue_run is not None:
            client.update_run(continue_run, status="RUNNING")
            for key, value in {**process_tags, END_REASON_TAG: ""}.items():
                client.set_tag(continue_run, key, value)
            return cls(client, continue_run)
        run = client.create_run(experiment_id, run_name=run_name, tags={"t2sql.experiment": settings.experiment.name, **process_tags})
        return cls(client, run.info.run_id)

    @classmethod
    def resume(cls, tracking_uri: str, run_id: str) -> TrackedRun:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri)
        client.update_run(run_id, status="RUNNING")
        return cls(client, run_id)

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if exc_type else "FINISHED")

    def log_settings(self, settings: PipelineSettings, log: Callable[[str], None] | None = None) -> None:
        """Every setting as a param. A continued run keeps the values it was started with (MLflow refuses to
        change a param); a setting that differs now (one outside the checkpoint key, e.g. evaluation.*) is
        named through `log` and recorded as the tag `t2sql.resumed_with.<key>`."""
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        params = []
        for key, value in flatten(settings).items():
            value = value[:6000]
            if key not in logged:
                params.append(Param(key, value))
            elif logged[key] != value:
                self.client.set_tag(self.run_id, f"t2sql.resumed_with.{key}", value)
                if log is not None:
                    log(f"setting {key} changed since this run started ({logged[key]} -> {value}); the MLflow run keeps {logged[key]} as its param")
        for start in range(0, len(params), 100):  # MLflow accepts at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, float(value), now, step) for key, value in metrics.items()])

    def log_artifacts(self, local_dir: str, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, local_dir, artifact_path)

    def log_artifact(self, local_path: str) -> None:
        self.client.log_artifact(self.run_id, local_path)

    def register_adapter(
        self, model_name: str, tags: dict[str, str], score: CandidateScore, margin: float, served: ServedModelFiles | None = None
    ) -> Registration:
        """Register through the promotion gate; with `served`, the version is the pyfunc SQL model logged here first."""
        if served is None:
            return register_adapter(self.client, model_name, self.run_id, "adapter", tags, score, margin)
        from t2sql_pipeline.core.registry.sql_model import log_sql_model, process_tracking_uri

        uri = self.client.tracking_uri
        logged = log_sql_model(uri, self.run_id, served.adapter_dir, served.base_path, served.settings, served.prompt_format)
        with process_tracking_uri(uri):  # the registry store looks the logged model up through the process-wide URI
            return register_adapter(self.client, model_name, self.run_id, "adapter", tags, score, margin, logged_model=logged)


@dataclass(frozen=True)
class ServedModelFiles:
    """What the pyfunc SQL model is built from: the trained adapter, its base, and how prompts were made."""

    adapter_dir: str
    base_path: str
    settings: PipelineSettings
    prompt_format: str
