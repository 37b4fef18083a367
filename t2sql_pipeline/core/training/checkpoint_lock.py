"""One training at a time per checkpoint folder, and MLflow runs that outlive no process.

Checkpoints are keyed by settings and data (`core.training.sft.checkpoint_key`), so two runs with the same
settings would train into the same folder. A lock file there names its holder (pid, host, start);
a second run stops with that name, and a lock whose holder is gone (killed, crashed) is taken over.
Training runs carry the same pid and host as MLflow tags, so a run left RUNNING by a dead process
is found and ended as KILLED, with the reason on the run.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

LOCK_NAME = ".training.lock"
PID_TAG, HOST_TAG, END_REASON_TAG = "t2sql.pid", "t2sql.host", "t2sql.end_reason"


class CheckpointBusyError(RuntimeError):
    """Another live process is training into the same checkpoint folder."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    since: str

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"))

    def alive(self) -> bool:
        """True unless the holder is on this host and its process is gone (another host's cannot be checked)."""
        return self.host != socket.gethostname() or process_alive(self.pid)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class CheckpointLock:
    """`with CheckpointLock(folder): ...` holds the folder for this process; see the module docstring."""

    def __init__(self, folder: Path, log: Any = print) -> None:
        self.path = folder / LOCK_NAME
        self.log = log

    def __enter__(self) -> CheckpointLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = Holder.me()
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and holder.alive():
                    raise CheckpointBusyError(
                        f"{self.path.parent} is being trained into by process {holder.pid} on {holder.host} since {holder.since} "
                        "(same settings and data); wait for it to finish or stop it"
                    ) from None
                who = f"process {holder.pid} on {holder.host}" if holder else "an unreadable lock"
                self.log(f"taking over the checkpoint folder from {who}, which is gone")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me.__dict__, handle)
            return self

    def __exit__(self, *_: object) -> None:
        self.path.unlink(missing_ok=True)

    def _holder(self) -> Holder | None:
        try:
            return Holder(**json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None  # half-written by a process killed mid-write: treated as stale


def end_dead_runs(client: MlflowClient, experiment_id: str, keep: str | None = None) -> list[str]:
    """End as KILLED every RUNNING run of the experiment whose training process (tags) is gone; returns their ids."""
    ended = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if run.info.run_id == keep or PID_TAG not in tags or HOST_TAG not in tags:
            continue
        holder = Holder(int(tags[PID_TAG]), tags[HOST_TAG], "")
        if holder.alive():
            continue
        reason = f"process {holder.pid} on {holder.host} was gone when found (killed or crashed)"
        client.set_tag(run.info.run_id, END_REASON_TAG, reason)
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    return ended
