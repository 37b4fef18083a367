"""Browser tests: real servers on localhost, driven by the system Chromium through Playwright.

Skipped, with the reason, only where no Chromium is installed (`.ci/run` installs Debian's).
Screenshots and server logs go to `$T2SQL_TEST_ARTIFACTS` or `<repo>/test-artifacts/e2e/`.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Root in a container has no user namespaces for the sandbox; the rest keeps Chromium off the network and quiet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 120


def chromium_path() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: /usr/bin/chromium is missing and `chromium` is not on PATH (Debian: apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("T2SQL_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts" / "e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path


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
        os.killpg(self.process.pid, signal.SIGTERM)  # the group: the webserver's code server and run workers too
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_server(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    handle = log_path.open("wb")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()  # the child holds its own descriptor
    return Server(name, process, log_path)


def wait_for_http(url: str, servers: list[Server], timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
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


def isolated_env(home: Path) -> dict[str, str]:
    """The environment of a fresh user: state, Dagster instance and MLflow store all under `home`."""
    env = dict(os.environ)
    env.update(
        T2SQL_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
        T2SQL_EXPERIMENT="demo",
        DAGSTER_DISABLE_TELEMETRY="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("T2SQL_MLFLOW_UI_URL", None)
    return env


def create_instance_storage(dagster_home: Path) -> None:
    """Creates the instance's SQLite databases before any server starts.

    On a fresh instance the webserver, its code server and the daemon would each create the
    schedule database at once, and the loser fails with "alembic_version has more than one head".
    """
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.get_runs_count()


@dataclass(frozen=True)
class DagsterUI:
    url: str
    home: Path
    env: dict[str, str]
    servers: tuple[Server, ...]

    def logs(self) -> str:
        return "\n".join(server.log_tail() for server in self.servers)


@pytest.fixture(scope="module")
def dagster_ui(chromium_executable: str, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[DagsterUI]:
    """`dagster-webserver` and `dagster-daemon` on a fresh instance (what `make ui` starts), torn down as process groups."""
    home = tmp_path_factory.mktemp("e2e-home")
    dagster_home = home / "dagster"
    (dagster_home / ".nux").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    (dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n")  # no community pop-up over the graph
    create_instance_storage(dagster_home)
    env = isolated_env(home)
    port = free_port()
    servers = [
        start_server("dagster-webserver", [str(VENV_BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], env, artifacts_dir),
        start_server("dagster-daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, artifacts_dir),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/server_info", servers)
        yield DagsterUI(url, home, env, tuple(servers))
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[object]:
    """Headless Chromium (the system's; Playwright downloads no browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
