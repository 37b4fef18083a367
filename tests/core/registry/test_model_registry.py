"""MLflow registry against a real SQLite store: experiments under T2SQL_HOME, versions, candidate/champion aliases."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from t2sql_pipeline.core.registry.model_registry import (
    CANDIDATE,
    CHAMPION,
    CandidateScore,
    champion_version,
    decide_promotion,
    ensure_experiment,
    list_versions,
    register_adapter,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """One SQLite store for the module (creating its tables takes seconds); T2SQL_HOME points at its folder."""
    home = tmp_path_factory.mktemp("t2sql_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("T2SQL_HOME", str(home))
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        from mlflow import MlflowClient

        yield MlflowClient(f"sqlite:///{home}/mlflow.db"), home


def local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme == "file", uri
    return Path(unquote(parsed.path))


def adapter_run(client, experiment: str, tmp_path: Path, marker: str) -> str:
    """A finished run with an `adapter/` artifact folder; returns its id."""
    folder = tmp_path / f"adapter_{marker}"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(f'{{"r": 8, "marker": "{marker}"}}', encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    run = client.create_run(ensure_experiment(client, experiment))
    client.log_artifacts(run.info.run_id, str(folder), "adapter")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_ensure_experiment_is_idempotent_and_puts_artifacts_under_home(store) -> None:
    client, home = store
    first = ensure_experiment(client, "t2sql-idempotent")
    assert ensure_experiment(client, "t2sql-idempotent") == first
    assert len([e for e in client.search_experiments() if e.name == "t2sql-idempotent"]) == 1
    location = local_path(client.get_experiment(first).artifact_location)
    assert location.is_relative_to(home.resolve())
    assert ensure_experiment(client, "t2sql-other") != first


def test_existing_experiment_keeps_its_location(store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client, _ = store
    experiment_id = ensure_experiment(client, "t2sql-moved")
    location = client.get_experiment(experiment_id).artifact_location
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path / "elsewhere"))
    assert ensure_experiment(client, "t2sql-moved") == experiment_id
    assert client.get_experiment(experiment_id).artifact_location == location


def test_register_twice_first_is_champion_second_is_candidate(store, tmp_path: Path) -> None:
    client, home = store
    run_1 = adapter_run(client, "t2sql-registry", tmp_path, "one")
    run_2 = adapter_run(client, "t2sql-registry", tmp_path, "two")

    v1 = register_adapter(client, "sql-adapter", run_1, "adapter", {"t2sql.experiment": "t2sql-registry"}, score(0.6)).version
    assert (v1.name, v1.version, v1.run_id) == ("sql-adapter", "1", run_1)
    assert set(v1.aliases) == {CANDIDATE, CHAMPION}
    assert champion_version(client, "sql-adapter") == "1"
    # The version points at the run's adapter files, stored under T2SQL_HOME.
    files = local_path(v1.source)
    assert files.is_relative_to(home.resolve())
    assert '"marker": "one"' in (files / "adapter_config.json").read_text(encoding="utf-8")
    assert client.get_model_version("sql-adapter", "1").tags["t2sql.experiment"] == "t2sql-registry"

    v2 = register_adapter(client, "sql-adapter", run_2, "adapter", {}, score(0.5)).version
    assert v2.version == "2"
    assert v2.aliases == (CANDIDATE,)
    assert '"marker": "two"' in (local_path(v2.source) / "adapter_config.json").read_text(encoding="utf-8")
    assert champion_version(client, "sql-adapter") == "1"
    assert str(client.get_model_version_by_alias("sql-adapter", CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias("sql-adapter", CANDIDATE).version) == "2"

    versions = [v for v in list_versions(client) if v.name == "sql-adapter"]
    assert [(v.version, v.aliases, v.run_id) for v in versions] == [("2", (CANDIDATE,), run_2), ("1", (CHAMPION,), run_1)]
    assert versions[1].source == v1.source


def test_champion_version_of_unknown_model_is_none(store) -> None:
    client, _ = store
    assert champion_version(client, "never-registered") is None


def test_list_versions_covers_every_model(store, tmp_path: Path) -> None:
    client, _ = store
    run = adapter_run(client, "t2sql-list", tmp_path, "x")
    register_adapter(client, "list-a", run, "adapter", {}, score(0.5))
    register_adapter(client, "list-b", run, "adapter", {}, score(0.5))
    register_adapter(client, "list-b", run, "adapter", {}, score(0.4))
    listed = [(v.name, v.version, v.aliases) for v in list_versions(client) if v.name.startswith("list-")]
    assert listed == [
        ("list-a", "1", (CANDIDATE, CHAMPION)),
        ("list-b", "2", (CANDIDATE,)),
        ("list-b", "1", (CHAMPION,)),
    ]


def score(ex: float, base: float = 0.1, split: str = "split-a") -> CandidateScore:
    return CandidateScore(execution_accuracy=ex, base_execution_accuracy=base, eval_split=split)


@pytest.mark.parametrize(
    ("candidate", "champion", "margin", "promote", "reason_part"),
    [
        (score(0.1, base=0.1), None, 0.0, False, "does not beat its base model"),
        (score(0.05, base=0.1), None, 0.0, False, "does not beat its base model"),
        (score(0.5), None, 0.0, True, "first version"),
        (score(0.8), score(0.7), 0.05, True, ">= champion v1"),
        (score(0.74), score(0.7), 0.05, False, "< champion v1"),
        (score(0.7), score(0.7), 0.0, True, ">= champion v1"),
        (score(0.9), score(0.7, split="split-b"), 0.0, False, "another test split"),
        (score(0.05, base=0.1), score(0.01), 0.0, False, "does not beat its base model"),
    ],
)
def test_promotion_gate(candidate: CandidateScore, champion: CandidateScore | None, margin: float, promote: bool, reason_part: str) -> None:
    decision = decide_promotion(candidate, champion, "1" if champion else None, margin)
    assert decision.promote is promote
    assert reason_part in decision.reason


def test_champion_moves_or_stays_per_gate_and_tags_say_why(store, tmp_path: Path) -> None:
    client, _ = store
    runs = [adapter_run(client, "t2sql-gate", tmp_path, str(i)) for i in range(4)]
    outcomes = [
        register_adapter(client, "gated", runs[0], "adapter", {}, score(0.60), margin=0.05),
        register_adapter(client, "gated", runs[1], "adapter", {}, score(0.63), margin=0.05),  # not enough
        register_adapter(client, "gated", runs[2], "adapter", {}, score(0.70), margin=0.05),  # moves
        register_adapter(client, "gated", runs[3], "adapter", {}, score(0.99, split="other"), margin=0.05),  # not comparable
    ]
    assert [o.decision.promote for o in outcomes] == [True, False, True, False]
    assert [o.champion_version for o in outcomes] == ["1", "1", "3", "3"]
    assert champion_version(client, "gated") == "3"
    assert str(client.get_model_version_by_alias("gated", CANDIDATE).version) == "4"
    tags = client.get_model_version("gated", "2").tags
    assert tags["promoted"] == "false" and "< champion v1 60.00% + margin 5.00%" in tags["promotion_reason"]
    assert tags["execution_accuracy"] == "0.630000" and tags["eval_split"] == "split-a"


def test_a_tie_with_the_champion_read_back_from_its_tag_promotes(store, tmp_path: Path) -> None:
    # 167/169 twice: the champion's score comes back from a tag, the candidate's is the exact fraction.
    client, _ = store
    runs = [adapter_run(client, "t2sql-tie", tmp_path, str(i)) for i in range(2)]
    first = register_adapter(client, "tied", runs[0], "adapter", {}, score(167 / 169))
    second = register_adapter(client, "tied", runs[1], "adapter", {}, score(167 / 169))
    assert first.decision.promote and second.decision.promote, second.decision.reason
    assert champion_version(client, "tied") == "2"


def test_a_tie_with_a_champion_recorded_at_lower_precision_promotes(store, tmp_path: Path) -> None:
    client, _ = store
    runs = [adapter_run(client, "t2sql-tie4", tmp_path, str(i)) for i in range(3)]
    register_adapter(client, "tied4", runs[0], "adapter", {}, score(167 / 169))
    client.set_model_version_tag("tied4", "1", "execution_accuracy", "0.9882")  # as written with 4 decimals
    assert register_adapter(client, "tied4", runs[1], "adapter", {}, score(167 / 169)).decision.promote
    assert not register_adapter(client, "tied4", runs[2], "adapter", {}, score(166 / 169)).decision.promote


class FlakyRegistry:
    """A client whose registry answers every look-up with a server error (a tracking server that is down)."""

    def __init__(self, client) -> None:
        self.client = client
        self.created: list[str] = []

    def _fail(self, *_args, **_kwargs):
        from mlflow.exceptions import MlflowException

        raise MlflowException("API request to endpoint failed with error code 503", error_code="TEMPORARILY_UNAVAILABLE")

    get_model_version_by_alias = get_registered_model = _fail

    def __getattr__(self, name: str):
        return getattr(self.client, name)


def test_a_registry_failure_is_not_read_as_no_champion(store, tmp_path: Path) -> None:
    client, _ = store
    run = adapter_run(client, "t2sql-registry", tmp_path, "flaky")
    register_adapter(client, "flaky-model", run, "adapter", {}, score(0.6))  # v1, champion
    flaky = FlakyRegistry(client)
    with pytest.raises(Exception, match="503"):
        champion_version(flaky, "flaky-model")
    with pytest.raises(Exception, match="503"):
        register_adapter(flaky, "flaky-model", run, "adapter", {}, score(0.9))
    assert [v.version for v in list_versions(client) if v.name == "flaky-model"] == ["1"]  # nothing registered blind
    assert champion_version(client, "flaky-model") == "1"
