"""`t2sql models list|show` against a real MLflow SQLite store."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from t2sql_pipeline.cli import main
from t2sql_pipeline.commands.models import format_table
from t2sql_pipeline.core.registry.model_registry import CandidateScore, ensure_experiment, register_adapter


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowClient]:
    # One store for the module: creating MLflow's schema takes seconds, and these tests only read it.
    tmp_path = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
        yield _populated(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"), tmp_path)


def _populated(client: MlflowClient, tmp_path: Path) -> MlflowClient:
    experiment = ensure_experiment(client, "demo-exp")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    for accuracy in ("0.5000", "0.7000"):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "adapter_execution_accuracy", float(accuracy))
        client.log_artifacts(run.info.run_id, str(adapter), "adapter")
        register_adapter(client, "demo-exp", run.info.run_id, "adapter", {}, CandidateScore(float(accuracy), 0.1, "split"), margin=0.5)
    return client


def test_models_list_shows_versions_aliases_and_accuracy(registry: MlflowClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "demo-exp" in lines[1] and " 2 " in lines[1] and "candidate" in lines[1] and "70.0%" in lines[1]
    assert " 1 " in lines[2] and "champion" in lines[2] and "50.0%" in lines[2]


@pytest.mark.parametrize(("reference", "version"), [("demo-exp@champion", "1"), ("demo-exp@candidate", "2"), ("demo-exp/2", "2"), ("demo-exp", "1")])
def test_models_show_resolves_aliases_and_versions(registry: MlflowClient, capsys: pytest.CaptureFixture[str], reference: str, version: str) -> None:
    assert main(["models", "show", reference]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"demo-exp version {version} ")
    assert "metric adapter_execution_accuracy" in out and "artifacts: adapter" in out


@pytest.mark.parametrize("reference", ["demo-exp@nope", "demo-exp/9", "missing", "demo-exp/1@champion"])
def test_models_show_names_what_is_wrong(registry: MlflowClient, capsys: pytest.CaptureFixture[str], reference: str) -> None:
    assert main(["models", "show", reference]) == 2
    assert reference.split("@")[0].split("/")[0] in capsys.readouterr().err


def test_models_list_columns_stay_aligned_for_long_names() -> None:
    rows = [("t2sql-spider-train-smollm2-135m-with-a-long-suffix", "12", "champion,candidate,previous", "35.1%", "abc"), ("t2sql-demo", "1", "-", "-", "def")]
    lines = format_table(("model", "version", "aliases", "EX", "run"), rows, right_aligned={1, 3}).splitlines()
    run_column = {line.rindex(" ") + 1 for line in lines}
    ex_end = {line.index("%") + 1 if "%" in line else None for line in lines} - {None}
    assert len(run_column) == 1  # every run id starts in the same column
    assert lines[0].index("EX") + 2 == ex_end.pop()  # right-aligned under its header
