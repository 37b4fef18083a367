"""The HTTP API of `t2sql serve` with FastAPI's TestClient: contract, validation, JSON errors."""

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from t2sql_pipeline.serving.app import MAX_BODY_BYTES, MAX_EVIDENCE_CHARS, MAX_QUESTION_CHARS, MAX_SCHEMA_CHARS, create_app


class EchoGenerator:
    """Writes a query naming what it was given, and remembers each call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def generate(self, question: str, *, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        self.calls.append({"question": question, "schema": schema, "db_path": db_path, "evidence": evidence})
        if question == "explode":
            raise ValueError("the prompt has 900 tokens, over the model's limit of 512")
        return f"SELECT '{question}' FROM {db_path.stem if db_path else 'schema_text'};"


def make_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.close()
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "dbs"
    make_db(root / "shop" / "shop.sqlite")  # Spider layout
    make_db(root / "school.sqlite")  # flat layout
    outside = make_db(tmp_path / "secret" / "secret.sqlite")
    (root / "leak").mkdir()
    (root / "leak" / "leak.sqlite").symlink_to(outside)  # a file link leaving the folder
    (root / "away").symlink_to(outside.parent, target_is_directory=True)  # a folder link leaving it
    (root / "notes.txt").write_text("not a database")
    return root


@pytest.fixture()
def generator() -> EchoGenerator:
    return EchoGenerator()


@pytest.fixture()
def client(folder: Path, generator: EchoGenerator) -> TestClient:
    return TestClient(create_app(generator, folder, model_reference="t2sql-demo/1"))


def assert_error(response, status: int, *parts: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    for part in parts:
        assert part in body["error"], body["error"]


def test_generate_from_schema_text(client: TestClient, generator: EchoGenerator) -> None:
    response = client.post("/generate_sql", json={"question": "How many?", "schema": "CREATE TABLE t (id INTEGER);"})
    assert response.status_code == 200 and response.json() == {"sql": "SELECT 'How many?' FROM schema_text;"}
    assert generator.calls == [{"question": "How many?", "schema": "CREATE TABLE t (id INTEGER);", "db_path": None, "evidence": None}]


@pytest.mark.parametrize(("db_id", "relative"), [("shop", "shop/shop.sqlite"), ("school", "school.sqlite")])
def test_generate_from_db_id_in_either_layout(client: TestClient, generator: EchoGenerator, folder: Path, db_id: str, relative: str) -> None:
    response = client.post("/generate_sql", json={"question": "q", "db_id": db_id, "evidence": "hint"})
    assert response.json() == {"sql": f"SELECT 'q' FROM {db_id};"}
    assert generator.calls[0]["db_path"] == (folder / relative).resolve() and generator.calls[0]["evidence"] == "hint"


def test_databases_health_and_page(client: TestClient) -> None:
    assert client.get("/databases").json() == ["school", "shop"]
    assert client.get("/health").json() == {"status": "ok", "model": "t2sql-demo/1"}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in ('id="generate-form"', 'id="question"', 'id="db_id"', 'id="evidence"', 'id="submit"', '<pre id="sql"', '<p id="error"'):
        assert element in page.text
    assert '"/generate_sql"' in page.text and 'call("/databases")' in page.text


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        ({"question": "q"}, ["exactly one of 'schema'", "'db_id'"]),
        ({"question": "q", "schema": "CREATE TABLE t (a);", "db_id": "shop"}, ["exactly one of 'schema'"]),
        ({"schema": "CREATE TABLE t (a);"}, ["question: Field required"]),
        ({"question": "q", "db_id": "shop", "model": "gpt"}, ["unknown field 'model'"]),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1), "db_id": "shop"}, ["question:", f"at most {MAX_QUESTION_CHARS} characters"]),
        ({"question": "q", "schema": "x" * (MAX_SCHEMA_CHARS + 1)}, ["schema:", f"at most {MAX_SCHEMA_CHARS} characters"]),
        ({"question": "q", "db_id": "shop", "evidence": "e" * (MAX_EVIDENCE_CHARS + 1)}, ["evidence:", f"at most {MAX_EVIDENCE_CHARS}"]),
        ({"question": 7, "db_id": "shop"}, ["question:", "string"]),
        ({"question": "   ", "db_id": "shop"}, ["'question' is blank"]),
        (["q"], ["request body: ", "valid dictionary"]),
    ],
)
def test_malformed_requests_are_422_naming_the_field(client: TestClient, generator: EchoGenerator, body: object, parts: list[str]) -> None:
    assert_error(client.post("/generate_sql", json=body), 422, *parts)
    assert generator.calls == []


def test_invalid_json_is_named(client: TestClient) -> None:
    response = client.post("/generate_sql", content=b'{"question": ', headers={"content-type": "application/json"})
    assert_error(response, 422, "not valid JSON")


@pytest.mark.parametrize("db_id", ["../secret/secret", "..", "/etc/passwd", "shop/../shop", "a b", "shop/shop", "", ".hidden/x"])
def test_db_ids_that_are_not_plain_names_are_refused(client: TestClient, generator: EchoGenerator, db_id: str) -> None:
    response = client.post("/generate_sql", json={"question": "q", "db_id": db_id})
    assert response.status_code in {400, 422}
    assert_error(response, response.status_code, "db_id")
    assert generator.calls == []


@pytest.mark.parametrize("db_id", ["leak", "away"])
def test_symlinks_leaving_the_folder_are_refused(client: TestClient, db_id: str) -> None:
    # "away" is a link to the folder holding secret.sqlite: away/away.sqlite does not exist, and away.sqlite neither.
    response = client.post("/generate_sql", json={"question": "q", "db_id": db_id})
    if db_id == "leak":
        assert_error(response, 400, "outside the database folder")
    else:
        assert_error(response, 404, "no database 'away'")


def test_a_folder_link_to_a_database_outside_is_refused(tmp_path: Path, generator: EchoGenerator) -> None:
    root = tmp_path / "dbs"
    root.mkdir()
    make_db(tmp_path / "elsewhere" / "inner" / "inner.sqlite")
    (root / "inner").symlink_to(tmp_path / "elsewhere" / "inner", target_is_directory=True)
    client = TestClient(create_app(generator, root))
    assert_error(client.post("/generate_sql", json={"question": "q", "db_id": "inner"}), 400, "outside the database folder")
    assert client.get("/databases").json() == []


def test_unknown_db_id_is_404(client: TestClient) -> None:
    assert_error(client.post("/generate_sql", json={"question": "q", "db_id": "nowhere"}), 404, "no database 'nowhere'")


def test_oversized_body_is_413(client: TestClient, generator: EchoGenerator) -> None:
    response = client.post("/generate_sql", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert_error(response, 413, f"over {MAX_BODY_BYTES} bytes")
    assert generator.calls == []


def test_a_largest_valid_request_fits_the_body_limit(client: TestClient) -> None:
    body = {"question": "q" * MAX_QUESTION_CHARS, "schema": "s" * MAX_SCHEMA_CHARS, "evidence": "e" * MAX_EVIDENCE_CHARS}
    assert client.post("/generate_sql", json=body).status_code == 200


def test_model_input_errors_are_400_with_the_message(client: TestClient) -> None:
    assert_error(client.post("/generate_sql", json={"question": "explode", "db_id": "shop"}), 400, "over the model's limit of 512")


def test_unknown_routes_and_methods_are_json_errors(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "Not Found")
    assert_error(client.get("/generate_sql"), 405, "Method Not Allowed")


def test_a_missing_database_folder_is_named(tmp_path: Path, generator: EchoGenerator) -> None:
    with pytest.raises(NotADirectoryError, match="absent"):
        create_app(generator, tmp_path / "absent")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/generate_sql", content=b'{"question": "How many?", "db_id": "shop"}', headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_json_with_a_charset_is_accepted(client: TestClient) -> None:
    response = client.post("/generate_sql", content=b'{"question": "How many?", "db_id": "shop"}', headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code != 415
