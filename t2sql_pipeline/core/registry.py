"""MLflow tracking and model registry: experiments, adapter versions and their aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from t2sql_pipeline.core.state import mlflow_artifact_root

if TYPE_CHECKING:
    from mlflow import MlflowClient

CANDIDATE, CHAMPION = "candidate", "champion"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    aliases: tuple[str, ...]
    source: str
    run_id: str | None


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id; created with an explicit artifact location so artifacts never land in the CWD."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (mlflow_artifact_root() / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


def register_adapter(client: MlflowClient, model_name: str, run_id: str, artifact_path: str, tags: dict[str, str]) -> RegisteredVersion:
    """A new version of `model_name` from the run's adapter artifacts; alias `candidate`, and `champion` when none exists."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description="LoRA adapters for text-to-SQL, one version per pipeline run.")
    source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version = client.create_model_version(model_name, source=source, run_id=run_id, tags=tags)
    client.set_registered_model_alias(model_name, CANDIDATE, version.version)
    aliases = [CANDIDATE]
    if champion_version(client, model_name) is None:
        client.set_registered_model_alias(model_name, CHAMPION, version.version)
        aliases.append(CHAMPION)
    return RegisteredVersion(model_name, str(version.version), tuple(aliases), source, run_id)


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def list_versions(client: MlflowClient) -> list[RegisteredVersion]:
    """Every version of every registered model, newest first within a model."""
    versions: list[RegisteredVersion] = []
    for model in client.search_registered_models():
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(alias)
        for version in client.search_model_versions(f"name='{model.name}'"):
            versions.append(
                RegisteredVersion(
                    model.name, str(version.version), tuple(sorted(aliases_by_version.get(str(version.version), []))), version.source, version.run_id
                )
            )
    return sorted(versions, key=lambda v: (v.name, -int(v.version)))


class ModelReferenceError(ValueError):
    """A model reference that is malformed or names nothing in the registry."""


def resolve_reference(client: MlflowClient, reference: str) -> RegisteredVersion:
    """`NAME`, `NAME@alias` or `NAME/version` -> that version (`NAME` alone: the champion, else the newest)."""
    from mlflow.exceptions import MlflowException

    name, _, alias = reference.partition("@")
    name, _, number = name.partition("/")
    if not name or (alias and number):
        raise ModelReferenceError(f"{reference!r}: use NAME, NAME@alias or NAME/version")
    try:
        if alias:
            version = client.get_model_version_by_alias(name, alias)
        elif number:
            version = client.get_model_version(name, number)
        else:
            versions = [v for v in list_versions(client) if v.name == name]
            if not versions:
                raise ModelReferenceError(f"no registered model named {name!r}")
            champion = next((v for v in versions if CHAMPION in v.aliases), None)
            return champion or versions[0]
    except MlflowException as error:
        raise ModelReferenceError(f"{reference!r}: {error.message}") from None
    aliases = tuple(sorted(a for a, v in (client.get_registered_model(name).aliases or {}).items() if str(v) == str(version.version)))
    return RegisteredVersion(name, str(version.version), aliases, version.source, version.run_id)
