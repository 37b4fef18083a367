"""Browser tests: real servers on localhost, driven by the system Chromium through Playwright.

Skipped, with the reason, only where no Chromium is installed (`.ci/run` installs Debian's).
Screenshots and server logs go to `$T2SQL_TEST_ARTIFACTS` or `<repo>/test-artifacts/e2e/`.
"""

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT, Server, free_port, fresh_dagster_home, start_server, wait_for_http

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
    fresh_dagster_home(home / "dagster")
    env = isolated_env(home)
    port = free_port()
    servers = [
        start_server(
            "dagster-webserver", [str(VENV_BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], env, artifacts_dir
        ),
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
