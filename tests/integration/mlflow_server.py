"""An `mlflow server` subprocess on a free port: PostgreSQL backend, proxied local artifact destination."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port, start_server, wait_for_http


@contextmanager
def tracking_server(backend_store_uri: str, artifacts_destination: Path, log_dir: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """The server's http:// URI once /health answers (log in `log_dir/mlflow-server.log`); its process group is stopped on exit."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # the server execs uvicorn from the venv
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        str(bin_dir / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        str(artifacts_destination),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    server = start_server("mlflow-server", command, env, log_dir)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{uri}/health", [server], timeout_s)
        yield uri
    finally:
        server.stop()
