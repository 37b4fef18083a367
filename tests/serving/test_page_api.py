"""The page's routes: completion, a database's tables, read-only runs with a row cap, the model card."""

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from t2sql_pipeline.serving.app import create_app
from t2sql_pipeline.serving.explore import QueryFailed, QueryRefused, database_tables, run_readonly
from t2sql_pipeline.serving.page_api import ModelCard, model_card_from_tags


class CompletingGenerator:
    """Completes a prefix with a fixed tail, and remembers each call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def generate(self, question: str, *, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        return "SELECT 1;"

    def complete(self, prefix: str, *, question: str | None, schema: str | None, db_path: Path | None, evidence: str | None) -> str:
        self.calls.append({"prefix": prefix, "question": question, "schema": schema, "db_path": db_path})
        if prefix.startswith("explode"):
            raise ValueError("the prompt with the prefix has 900 tokens, over the model's limit of 512")
        return f"{prefix} customers;"


@pytest.fixture()
def db_dir(tmp_path: Path) -> Path:
    path = tmp_path / "dbs" / "shop" / "shop.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, photo BLOB);
            CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(customer_id), total REAL);
            """
        )
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(i, f"c{i}", b"\x00\x01" if i == 1 else None) for i in range(1, 121)])
    conn.close()
    return tmp_path / "dbs"


@pytest.fixture()
def generator() -> CompletingGenerator:
    return CompletingGenerator()


@pytest.fixture()
def client(db_dir: Path, generator: CompletingGenerator) -> TestClient:
    card = ModelCard("t2sql-demo", "3", ("candidate", "champion"), 0.95, 0.1, "abc123")
    return TestClient(create_app(generator, db_dir, model_reference="t2sql-demo/3", card=card))


def test_complete_sql_passes_the_prefix_and_the_database(client: TestClient, generator: CompletingGenerator, db_dir: Path) -> None:
    response = client.post("/complete_sql", json={"prefix": "SELECT count(*) FROM", "db_id": "shop"})
    assert response.status_code == 200, response.text
    assert response.json() == {"sql": "SELECT count(*) FROM customers;"}
    assert generator.calls == [{"prefix": "SELECT count(*) FROM", "question": None, "schema": None, "db_path": (db_dir / "shop" / "shop.sqlite").resolve()}]
    client.post("/complete_sql", json={"prefix": "SELECT", "schema": "CREATE TABLE t (a INT);", "question": "How many?"})
    assert generator.calls[-1]["question"] == "How many?" and generator.calls[-1]["schema"] == "CREATE TABLE t (a INT);"


@pytest.mark.parametrize(
    ("body", "status", "part"),
    [
        ({"db_id": "shop"}, 422, "prefix"),
        ({"prefix": "   ", "db_id": "shop"}, 422, "prefix"),
        ({"prefix": "SELECT", "db_id": "shop", "schema": "CREATE TABLE t (a INT);"}, 422, "exactly one"),
        ({"prefix": "SELECT", "db_id": "shop", "sql": "x"}, 422, "allowed: prefix, question, schema, db_id, evidence"),
        ({"prefix": "SELECT", "db_id": "nowhere"}, 404, "nowhere"),
        ({"prefix": "SELECT", "db_id": "../shop"}, 400, "plain database name"),
        ({"prefix": "explode", "db_id": "shop"}, 400, "over the model's limit"),
    ],
)
def test_complete_sql_errors_name_the_problem(client: TestClient, body: dict, status: int, part: str) -> None:
    response = client.post("/complete_sql", json=body)
    assert response.status_code == status, response.text
    assert part in response.json()["error"]


def test_schema_lists_tables_and_marks_keys(client: TestClient) -> None:
    response = client.get("/databases/shop/schema")
    assert response.status_code == 200, response.text
    tables = {t["name"]: {c["name"]: c for c in t["columns"]} for t in response.json()["tables"]}
    assert list(tables) == ["customers", "orders"]
    assert tables["customers"]["customer_id"]["primary_key"] and not tables["customers"]["name"]["primary_key"]
    assert tables["orders"]["customer_id"]["references"] == "customers.customer_id"
    assert tables["orders"]["total"] == {"name": "total", "type": "number", "primary_key": False, "references": None}
    assert client.get("/databases/nowhere/schema").status_code == 404


def test_run_sql_returns_the_first_rows_and_the_count(client: TestClient) -> None:
    response = client.post("/run_sql", json={"db_id": "shop", "sql": "SELECT customer_id, name, photo FROM customers ORDER BY customer_id;"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["customer_id", "name", "photo"]
    assert body["row_count"] == 120 and not body["count_capped"]
    assert len(body["rows"]) == 50  # RUN_MAX_ROWS
    assert body["rows"][0] == [1, "c1", "<2 bytes>"] and body["rows"][1] == [2, "c2", None]


@pytest.mark.parametrize(
    ("sql", "part"),
    [
        ("DELETE FROM customers", "refused: DELETE"),
        ("DROP TABLE orders", "refused: DROP"),
        ("PRAGMA writable_schema = 1", "refused: PRAGMA"),
        ("WITH x AS (SELECT 1) DELETE FROM customers", "refused by the read-only connection"),
        ("SELECT nope FROM customers", "no such column"),
        ("", "String should have at least 1 character"),
    ],
)
def test_run_sql_refuses_writes_and_names_errors(client: TestClient, db_dir: Path, sql: str, part: str) -> None:
    response = client.post("/run_sql", json={"db_id": "shop", "sql": sql})
    assert response.status_code in {400, 422}, response.text
    assert part in response.json()["error"]
    assert run_readonly(db_dir / "shop" / "shop.sqlite", "SELECT count(*) FROM customers").rows == ((120,),)  # nothing changed


def test_run_readonly_stops_at_the_time_limit(db_dir: Path) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(QueryFailed, match="limit"):
        run_readonly(db_dir / "shop" / "shop.sqlite", endless, timeout_s=0.3)


def test_run_readonly_counts_up_to_the_cap(db_dir: Path) -> None:
    result = run_readonly(db_dir / "shop" / "shop.sqlite", "SELECT * FROM customers", max_rows=5, count_cap=100)
    assert (len(result.rows), result.row_count, result.count_capped) == (5, 100, True)
    with pytest.raises(QueryRefused, match="no SQL"):
        run_readonly(db_dir / "shop" / "shop.sqlite", " ; ")


def test_model_card_from_the_registry_tags(client: TestClient) -> None:
    assert client.get("/model").json() == {
        "name": "t2sql-demo",
        "version": "3",
        "aliases": ["candidate", "champion"],
        "execution_accuracy": 0.95,
        "base_execution_accuracy": 0.1,
        "eval_split_fingerprint": "abc123",
    }
    card = model_card_from_tags("m", "1", ("champion",), {"execution_accuracy": "0.8125", "eval_split": "7914ce1c"})
    assert (card.execution_accuracy, card.base_execution_accuracy, card.eval_split_fingerprint) == (0.8125, None, "7914ce1c")
    assert model_card_from_tags("m", "1", (), {"execution_accuracy": "n/a"}).execution_accuracy is None


def test_the_page_is_self_contained(client: TestClient) -> None:
    page = client.get("/").text
    for element in ('id="sql"', 'id="run"', 'id="schema"', 'id="history"', 'id="model-card"', 'value="complete"'):
        assert element in page
    assert "http://" not in page and "https://" not in page  # no CDN: users' browsers may have no internet


def test_database_tables_of_a_file(db_dir: Path) -> None:
    tables = database_tables(db_dir / "shop" / "shop.sqlite")
    assert [t.name for t in tables] == ["customers", "orders"]
