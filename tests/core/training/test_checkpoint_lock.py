"""One training per checkpoint folder; MLflow runs of dead processes are ended; a resumed training continues its run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from t2sql_pipeline.core.training.checkpoint_lock import LOCK_NAME, CheckpointBusyError, CheckpointLock, end_dead_runs


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_training_into_the_same_folder_stops_naming_the_holder(tmp_path: Path) -> None:
    with CheckpointLock(tmp_path):
        with pytest.raises(CheckpointBusyError, match=r"being trained into by process \d+ on .* since .*; wait for it to finish or stop it"):
            CheckpointLock(tmp_path).__enter__()
    assert not (tmp_path / LOCK_NAME).exists()  # released
    with CheckpointLock(tmp_path):  # and free again
        pass


def test_a_lock_whose_holder_is_gone_is_taken_over(tmp_path: Path) -> None:
    pid = dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "yesterday"}))
    messages: list[str] = []
    with CheckpointLock(tmp_path, messages.append):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] != pid
    assert messages == [f"taking over the checkpoint folder from process {pid} on {socket.gethostname()}, which is gone"]


def test_a_half_written_lock_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text('{"pid": 12')
    with CheckpointLock(tmp_path, lambda _m: None):
        assert (tmp_path / LOCK_NAME).is_file()


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_runs_left_running_by_dead_processes_are_ended_as_killed(tracking: str) -> None:
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.settings import load_settings

    settings = load_settings("demo")
    alive = TrackedRun.start(tracking, settings, run_name="alive")  # this process: alive
    client = MlflowClient(tracking)
    experiment_id = client.get_run(alive.run_id).info.experiment_id
    orphan = client.create_run(experiment_id, tags={"t2sql.pid": str(dead_pid()), "t2sql.host": socket.gethostname()}).info.run_id
    elsewhere = client.create_run(experiment_id, tags={"t2sql.pid": "1", "t2sql.host": "another-host"}).info.run_id

    assert end_dead_runs(client, experiment_id) == [orphan]
    assert client.get_run(orphan).info.status == "KILLED"
    assert "was gone when found" in client.get_run(orphan).data.tags["t2sql.end_reason"]
    assert client.get_run(alive.run_id).info.status == client.get_run(elsewhere).info.status == "RUNNING"


def test_a_resumed_training_continues_its_mlflow_run(tracking: str) -> None:
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry.tracking import TrackedRun
    from t2sql_pipeline.core.settings import load_settings

    settings = load_settings("demo")
    client = MlflowClient(tracking)
    first = TrackedRun.start(tracking, settings, run_name="first")
    first.log_metrics({"loss": 2.0}, 1)
    client.set_tag(first.run_id, "t2sql.pid", str(dead_pid()))  # the training was killed

    second = TrackedRun.start(tracking, settings, run_name="second", continue_run=first.run_id)
    assert second.run_id == first.run_id
    second.log_metrics({"loss": 1.0}, 2)
    run = client.get_run(first.run_id)
    assert run.info.status == "RUNNING" and run.data.tags["t2sql.end_reason"] == ""
    assert [(m.step, m.value) for m in client.get_metric_history(first.run_id, "loss")] == [(1, 2.0), (2, 1.0)]
    assert TrackedRun.start(tracking, settings, run_name="third", continue_run="0" * 32).run_id != first.run_id  # deleted run: a new one


def test_only_a_folder_with_a_complete_checkpoint_continues_a_run(tmp_path: Path) -> None:
    from t2sql_pipeline.core.stages import MLFLOW_RUN_FILE, run_to_continue

    (tmp_path / MLFLOW_RUN_FILE).write_text("abc")
    assert run_to_continue(tmp_path, lambda _m: None) is None  # no checkpoint: the next training starts afresh
