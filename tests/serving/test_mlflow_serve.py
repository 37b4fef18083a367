"""`mlflow models serve -m models:/NAME@champion` serves the registered SQL model over HTTP."""

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RegisteredSqlModel
from tests.servers import free_port, start_server, wait_for_http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(registered_sql_model: RegisteredSqlModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # the server execs uvicorn from the venv
    env = {**os.environ, **registered_sql_model.env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}
    command = [
        f"{bin_dir}/mlflow",
        "models",
        "serve",
        "-m",
        f"models:/{registered_sql_model.reference}",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    server = start_server("mlflow-models-serve", command, env, tmp_path_factory.mktemp("mlflow_serve"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", [server], timeout_s=180)
        yield url
    finally:
        server.stop()  # the server's workers are its children: the whole group goes


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_invocations_return_sql_for_records_and_split_frames(server: str, registered_sql_model: RegisteredSqlModel) -> None:
    db_path = str(registered_sql_model.db_dir / "shop" / "shop.sqlite")
    schema = "CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, name TEXT);"
    status, body = post(
        server, {"dataframe_records": [{"question": "How many customers are there?", "db_path": db_path}, {"question": "List names.", "schema": schema}]}
    )
    assert status == 200, body
    assert len(body["predictions"]) == 2 and all(isinstance(sql, str) and sql.endswith(";") for sql in body["predictions"])
    status, split = post(server, {"dataframe_split": {"columns": ["question", "db_path"], "data": [["How many customers are there?", db_path]]}})
    assert status == 200 and split["predictions"] == body["predictions"][:1]


def test_a_bad_row_is_an_error_response_naming_the_problem(server: str) -> None:
    status, body = post(server, {"dataframe_records": [{"question": "How many?"}]})
    assert status >= 400 and "exactly one of 'schema'" in json.dumps(body)
