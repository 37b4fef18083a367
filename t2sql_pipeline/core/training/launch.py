"""Training in its own process(es): the request the launcher writes, the command that runs it, and the rank helpers.

One process runs `python -m t2sql_pipeline.training_process REQUEST.json`; with
`training.num_processes` > 1 the same module runs under `torchrun` as that many
data-parallel workers. Dagster starts the command through Pipes (assets/model.py);
`t2sql materialize` starts it here (`run_training_processes`) when it needs torchrun.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, SplitsManifest
from t2sql_pipeline.core.run_folder import RunFolder
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.training.tied_to_parent import tied_command

ENTRY_MODULE = "t2sql_pipeline.training_process"
MARKER_ENV = "T2SQL_TRAINING_REQUEST"  # set in every training process: how tests and operators find the process tree
STOP_GRACE_S = 20.0  # after SIGINT, how long the workers get before they are killed


class TrainingRequest(BaseModel):
    """Everything the training process needs, written as JSON beside the stage's artifacts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    settings: PipelineSettings
    splits: SplitsManifest
    base: BaseModelManifest
    run_dir: str
    tracking_uri: str
    result_path: str  # where rank 0 writes the AdapterManifest JSON

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> TrainingRequest:
        if not path.is_file():
            raise FileNotFoundError(f"training request {path} does not exist")
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def process_rank() -> int:
    """This process's rank among data-parallel workers (torchrun sets RANK); 0 when not distributed."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """A SIGINT (a run's termination, Ctrl-C) that arrives inside the block is raised when the block ends.

    Wraps tracking-store writes: a KeyboardInterrupt in the middle of an MLflow write to SQLite leaves the
    database locked by the interrupted connection, and marking the run FAILED would then wait 20 s for it.
    Only in the main thread and with Python's default SIGINT handler; otherwise the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def free_port() -> int:
    """A TCP port free on the loopback interface now, for torchrun's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def training_command(
    settings: PipelineSettings, request_path: Path, *, python: str = sys.executable, port: int | None = None, launcher_pid: int | None = None
) -> list[str]:
    """The command line that trains from `request_path`: one Python process, or torchrun with `num_processes` workers.

    >>> from t2sql_pipeline.core.settings import load_settings
    >>> training_command(load_settings("demo"), Path("/r.json"), python="py")
    ['py', '-m', 't2sql_pipeline.training_process', '/r.json']
    """
    entry = ["-m", ENTRY_MODULE, str(request_path)]
    n = settings.training.num_processes
    if n == 1:
        return [python, *entry]
    # torchrun as `python -m torch.distributed.run`: the same interpreter and venv, no reliance on PATH. It is
    # tied to the process that starts it (Dagster's step, `t2sql materialize`): killed with -9, that process
    # takes torchrun along, and torchrun its workers (which tie themselves to it, as one process does).
    rendezvous = ["--master_addr", "127.0.0.1", "--master_port", str(port or free_port())]
    torchrun = [python, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--nnodes", "1", *rendezvous, *entry]
    return tied_command(torchrun, python=python, launcher_pid=launcher_pid)


def request_for(settings: PipelineSettings, splits: SplitsManifest, base: BaseModelManifest, run_dir: Path, tracking_uri: str) -> tuple[Path, TrainingRequest]:
    """The request file of this run's `lora_adapter` stage, written, and its contents."""
    stage = RunFolder(run_dir).stage("lora_adapter")
    request = TrainingRequest(
        settings=settings, splits=splits, base=base, run_dir=str(run_dir), tracking_uri=tracking_uri, result_path=str(stage / "adapter_manifest.json")
    )
    Path(request.result_path).unlink(missing_ok=True)  # a result left by an earlier attempt is never read as this one's
    return request.write(stage / "training_request.json"), request


def read_result(request: TrainingRequest) -> AdapterManifest:
    path = Path(request.result_path)
    if not path.is_file():
        raise RuntimeError(f"the training process exited without writing its result {path}")
    return AdapterManifest.model_validate_json(path.read_text(encoding="utf-8"))


def run_training_processes(settings: PipelineSettings, splits: SplitsManifest, base: BaseModelManifest, run_dir: Path, tracking_uri: str) -> AdapterManifest:
    """Run the training command here and wait (`t2sql materialize` with several processes; Dagster uses Pipes).

    Output goes straight to this terminal. Ctrl-C (or SIGTERM) stops torchrun, which stops its workers.
    """
    request_path, request = request_for(settings, splits, base, run_dir, tracking_uri)
    command = training_command(settings, request_path)
    # The command ties itself to this process (training_command): a launcher killed with -9 leaves no training behind.
    process = subprocess.Popen(command, env={**os.environ, MARKER_ENV: str(request_path)})
    try:
        code = process.wait()
    except BaseException:
        process.send_signal(signal.SIGINT)  # torchrun forwards a stop to its workers
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if code != 0:
        raise RuntimeError(f"training failed (exit code {code}): {' '.join(command)}")
    return read_result(request)
