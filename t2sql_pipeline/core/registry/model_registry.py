"""MLflow tracking and model registry: experiments, adapter versions and their aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from t2sql_pipeline.core.state import mlflow_artifact_root

if TYPE_CHECKING:
    from mlflow import MlflowClient

CANDIDATE, CHAMPION = "candidate", "champion"
SCORE_DECIMALS = 6  # scores on version tags; the gate compares at this precision


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    aliases: tuple[str, ...]
    source: str
    run_id: str | None


SERVER_SCHEMES = ("http", "https", "databricks")  # a tracking server chooses (and may proxy) the artifact store


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id; created with an explicit artifact location when tracking is local.

    A local store (SQLite, files, or a database URI used directly) would otherwise put artifacts
    in the CWD; a tracking server picks its own location (`mlflow-artifacts:` when it proxies
    artifacts), which a path on this machine would bypass.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    if str(client.tracking_uri).split(":", 1)[0].lower() in SERVER_SCHEMES:
        return client.create_experiment(name)
    location = (mlflow_artifact_root() / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


class LoggedModelRef(Protocol):
    """A model logged to MLflow (e.g. `core.registry.sql_model.LoggedSqlModel`) that a version can be created from."""

    @property
    def model_uri(self) -> str: ...

    @property
    def model_id(self) -> str: ...


@dataclass(frozen=True)
class CandidateScore:
    """What the gate compares: the adapter's and its base model's EX on one test split."""

    execution_accuracy: float
    base_execution_accuracy: float
    eval_split: str  # fingerprint of the test split the figures come from
    resolution: float = 0.0  # half a unit of the last digit the score was recorded with (0: exact)


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


@dataclass(frozen=True)
class Registration:
    version: RegisteredVersion
    decision: PromotionDecision
    champion_version: str | None  # the champion after the decision


def decide_promotion(candidate: CandidateScore, champion: CandidateScore | None, champion_version: str | None, margin: float) -> PromotionDecision:
    """The promotion gate, as a pure function.

    >>> decide_promotion(CandidateScore(0.8, 0.1, "s"), CandidateScore(0.79, 0.1, "s"), "3", 0.02).promote
    False
    """
    ex, base = candidate.execution_accuracy, candidate.base_execution_accuracy
    if ex <= base:
        return PromotionDecision(False, f"does not beat its base model on the test split ({ex:.2%} vs base {base:.2%})")
    if champion is None:
        return PromotionDecision(True, f"first version that beats its base model ({ex:.2%} vs base {base:.2%})")
    if champion.eval_split != candidate.eval_split:
        return PromotionDecision(
            False,
            f"champion v{champion_version} was scored on another test split ({champion.eval_split} vs {candidate.eval_split}); not comparable, champion kept",
        )
    # The champion's score comes back from a tag: a candidate within its recorded precision is a tie.
    if ex >= champion.execution_accuracy + margin - champion.resolution:
        return PromotionDecision(True, f"{ex:.2%} >= champion v{champion_version} {champion.execution_accuracy:.2%} + margin {margin:.2%}")
    return PromotionDecision(False, f"{ex:.2%} < champion v{champion_version} {champion.execution_accuracy:.2%} + margin {margin:.2%}")


def register_adapter(
    client: MlflowClient,
    model_name: str,
    run_id: str,
    artifact_path: str,
    tags: dict[str, str],
    score: CandidateScore,
    margin: float = 0.0,
    logged_model: LoggedModelRef | None = None,
) -> Registration:
    """A new version, alias `candidate`; `champion` moves only through the gate.

    The version is `logged_model` (the pipeline passes its pyfunc SQL model, so the version loads with
    `mlflow.pyfunc.load_model`); without one, the run's bare `artifact_path` folder.
    The decision and its reason are written on the version's tags.
    """
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException as error:
        if not is_not_found(error):
            raise  # a server or network failure: never register blind
        client.create_registered_model(model_name, description="LoRA adapters for text-to-SQL, one version per pipeline run.")
    current = champion_version(client, model_name)
    champion_score = _score_of(client, model_name, current) if current else None
    if current and champion_score is None:
        decision = PromotionDecision(False, f"champion v{current} has no recorded test-split score to compare with; champion kept")
    else:
        decision = decide_promotion(score, champion_score, current, margin)
    source = logged_model.model_uri if logged_model else f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version_tags = {
        **tags,
        "execution_accuracy": f"{score.execution_accuracy:.{SCORE_DECIMALS}f}",
        "base_execution_accuracy": f"{score.base_execution_accuracy:.{SCORE_DECIMALS}f}",
        "eval_split": score.eval_split,
        "promoted": str(decision.promote).lower(),
        "promotion_reason": decision.reason,
    }
    model_id = logged_model.model_id if logged_model else None
    version = client.create_model_version(model_name, source=source, run_id=run_id, tags=version_tags, model_id=model_id)
    client.set_registered_model_alias(model_name, CANDIDATE, version.version)
    aliases = [CANDIDATE]
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION, version.version)
        aliases.append(CHAMPION)
    registered = RegisteredVersion(model_name, str(version.version), tuple(aliases), source, run_id)
    return Registration(registered, decision, str(version.version) if decision.promote else current)


def _score_of(client: MlflowClient, model_name: str, version: str) -> CandidateScore | None:
    tags = client.get_model_version(model_name, version).tags
    try:
        text = tags["execution_accuracy"]
        decimals = len(text.partition(".")[2])
        return CandidateScore(float(text), float(tags["base_execution_accuracy"]), tags["eval_split"], 0.5 * 10.0**-decimals)
    except (KeyError, ValueError):
        return None  # a champion without gate tags (registered by hand): nothing to compare against


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    """The champion's version, None when there is none; any other failure (server, network) raises, since
    reading it as "no champion" would promote the candidate over the real champion."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException as error:
        if is_not_found(error):
            return None
        raise


def is_not_found(error: Exception) -> bool:
    """An MLflow error that says the model or alias does not exist (stores answer 404, or 400 for an unknown alias)."""
    code = getattr(error, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (code == "INVALID_PARAMETER_VALUE" and "not found" in str(error).lower())


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
