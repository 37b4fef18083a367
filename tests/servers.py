"""Real servers for tests: started in their own process group, awaited over HTTP, stopped with their children."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A process started in its own process group, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return f"--- {self.name} ({self.log_path}) ---\n" + self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the group: code servers, run workers, uvicorn workers too
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_server(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as handle:  # the child holds its own descriptor
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, process, log_path)


def wait_for_http(url: str, servers: list[Server], timeout_s: float = 120.0) -> None:
    """Polls `url` until it answers 200; fails with the servers' logs when one exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for server in servers:
            if server.process.poll() is not None:
                pytest.fail(f"{server.name} exited with {server.process.returncode} before {url} answered\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not answer within {timeout_s:.0f}s\n" + "\n".join(s.log_tail() for s in servers))


def fresh_dagster_home(dagster_home: Path) -> Path:
    """A new instance as `make ui` sets it up (the repo's dagster.yaml, no pop-up), its storage created up front.

    On a fresh instance the webserver, its code server and the daemon would each create the
    schedule database at once, and the loser fails with "alembic_version has more than one head".
    """
    from dagster import DagsterInstance

    (dagster_home / ".nux").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    (dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n")  # no community pop-up over the graph
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.get_runs_count()
    return dagster_home
