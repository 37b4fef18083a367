"""Terminating a real Dagster run stops training promptly and leaves no process behind.

A real instance: `dagster-webserver` and `dagster-daemon` on a fresh DAGSTER_HOME; the run is submitted and
terminated through the GraphQL client, as the UI does. Training runs as torchrun with 2 workers (the
deepest process tree: the Pipes child is torchrun, its children the workers) and as one process (the default).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.assets.tiny_training import make_tiny_upstream, store_manifest, training_processes
from tests.servers import free_port, fresh_dagster_home, start_server, wait_for_http

VENV_BIN = Path(sys.executable).parent
LONG_TRAINING = [
    "training.max_steps=100000",
    "training.save_steps=2",
    "training.save_total_limit=3",
    "training.logging_steps=1",
    "training.eval_steps=100000",
    "training.per_device_batch_size=2",
]
STOP_WITHIN_S = 30.0


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(folder.glob("*.log")))


@pytest.fixture(scope="module")
def dagster_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Path]]:
    """(webserver port, T2SQL_HOME, log folder) of a running webserver + daemon whose tiny upstream assets are stored."""
    home = tmp_path_factory.mktemp("termination")
    dagster_home = fresh_dagster_home(home / "dagster")
    splits, base = make_tiny_upstream(home / "upstream")
    for asset, manifest in (("tokenized_splits", splits), ("base_model", base)):
        store_manifest(home / "artifacts" / "manifests", asset, manifest)  # where the default IO manager reads them
    env = {
        **os.environ,
        "T2SQL_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "T2SQL_EXPERIMENT": "demo",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port = free_port()
    logs = home / "logs"
    logs.mkdir()
    servers = [
        start_server("webserver", [str(VENV_BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], env, logs),
        start_server("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, logs),
    ]
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", servers)
        yield port, home, logs
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_terminating_the_run_stops_the_training_tree(dagster_instance: tuple[int, Path, Path], processes: int) -> None:
    from dagster import DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

    from t2sql_pipeline.core.training.sft import last_complete_checkpoint

    port, home, logs = dagster_instance
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    checkpoints = home / "artifacts" / "t2sql-demo" / "checkpoints"
    earlier = set(checkpoints.glob("*"))  # settings-keyed folders of earlier parameters
    run_id = client.submit_job_execution(
        "train_and_evaluate",
        repository_location_name="t2sql_pipeline",
        run_config={"resources": {"settings": {"config": {"experiment": "demo", "overrides": [*LONG_TRAINING, f"training.num_processes={processes}"]}}}},
    )
    request = home / "artifacts" / "t2sql-demo" / run_id / "lora_adapter" / "training_request.json"
    tree_size = 1 if processes == 1 else processes + 1  # the Pipes child; under torchrun, torchrun and its workers

    # Wait until training really runs: the whole process tree exists and a checkpoint has been written.
    deadline = time.monotonic() + 240
    while not (
        len(training_processes(str(request))) >= tree_size
        and any(p.parent.parent not in earlier for p in checkpoints.glob("*/checkpoint-*/trainer_state.json"))
    ):
        status = client.get_run_status(run_id)
        assert status in {DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED}, f"run is {status}\n{_logs(logs)}"
        assert time.monotonic() < deadline, f"training did not start within 240 s\n{_logs(logs)}"
        time.sleep(0.5)
    tree = training_processes(str(request))

    client.terminate_run(run_id)
    stopped = time.monotonic()
    while training_processes(str(request)) or client.get_run_status(run_id) != DagsterRunStatus.CANCELED:
        assert time.monotonic() - stopped < STOP_WITHIN_S, (
            f"after {STOP_WITHIN_S:.0f} s: status {client.get_run_status(run_id)}, training processes left "
            f"{training_processes(str(request))} of {tree}\n{_logs(logs)}"
        )
        time.sleep(0.25)
    print(f"training tree {tree} gone and run CANCELED {time.monotonic() - stopped:.1f} s after terminate_run")

    # A checkpoint the stop cut short is never resumed from: validation deletes it, and the newest left is complete.
    (folder,) = set(checkpoints.glob("*")) - earlier  # this run's settings-keyed folder
    resumable = last_complete_checkpoint(folder, log=lambda message: None)
    assert resumable is not None
    assert resumable == max(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((resumable / "trainer_state.json").read_text())
    assert state["global_step"] == int(resumable.name.split("-")[1])
    assert all((resumable / name).is_file() for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt"))
    assert not (request.parent / "adapter").exists()  # it did not finish
