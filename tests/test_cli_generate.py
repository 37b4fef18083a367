"""`t2sql generate` against the registered tiny model: prints SQL, runs it read-only, names what is wrong."""

from pathlib import Path

import pytest

from t2sql_pipeline.cli import main
from t2sql_pipeline.commands.generate import format_rows, result_columns
from t2sql_pipeline.core.sql.execution import ExecLimits, open_readonly, run_query
from tests.conftest import RegisteredSqlModel

QUESTION = "How many customers are there?"


@pytest.fixture()
def registry(registered_sql_model: RegisteredSqlModel, monkeypatch: pytest.MonkeyPatch) -> RegisteredSqlModel:
    for key, value in registered_sql_model.env().items():
        monkeypatch.setenv(key, value)
    return registered_sql_model


def shop(registry: RegisteredSqlModel) -> Path:
    return registry.db_dir / "shop" / "shop.sqlite"


@pytest.mark.slow
def test_prints_the_sql_of_the_pyfunc_model(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str]) -> None:
    import mlflow.pyfunc
    import pandas as pd

    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    assert main(["generate", "--model", registry.reference, "--db", str(shop(registry)), QUESTION]) == 0
    printed = capsys.readouterr().out.strip()
    with process_tracking_uri(registry.tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{registry.reference}")
    assert printed == model.predict(pd.DataFrame([{"question": QUESTION, "db_path": str(shop(registry))}]))[0]
    assert printed.endswith(";")


@pytest.mark.slow
def test_execute_runs_the_printed_sql_read_only(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--model", registry.reference, "--db", str(shop(registry)), "--execute", "--max-rows", "3", QUESTION])
    captured = capsys.readouterr()
    sql, *rest = captured.out.splitlines()
    # The tiny model's SQL may or may not run; whatever it is, the command must report what SQLite says of it.
    conn = open_readonly(shop(registry))
    expected = run_query(conn, sql, ExecLimits(timeout_s=30))
    conn.close()
    if expected.ok:
        conn = open_readonly(shop(registry))
        columns = result_columns(conn, sql)
        conn.close()
        assert code == 0 and columns and "\n".join(rest) == format_rows(expected.rows, 3, columns)
    else:
        assert code == 1 and rest == [] and expected.error in captured.err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "message"),
    [("t2sql-demo@nope", "alias nope not found"), ("no-such-model@champion", "no-such-model"), ("a/1@b", "use NAME, NAME@alias or NAME/version")],
)
def test_unknown_models_and_aliases_are_errors(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str], model: str, message: str) -> None:
    assert main(["generate", "--model", model, "--db", str(shop(registry)), QUESTION]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_missing_or_invalid_database_files_are_named(registry: RegisteredSqlModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--model", registry.reference, "--db", str(tmp_path / "gone.sqlite"), QUESTION]) == 2
    assert "gone.sqlite" in capsys.readouterr().err
    (tmp_path / "text.sqlite").write_text("not a database, just some text that is long enough " * 3)
    assert main(["generate", "--model", registry.reference, "--db", str(tmp_path / "text.sqlite"), QUESTION]) == 2
    assert "text.sqlite" in capsys.readouterr().err


def test_execute_and_print_on_real_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from t2sql_pipeline.commands.generate import execute_and_print

    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript("CREATE TABLE t (id INTEGER, name TEXT); INSERT INTO t VALUES (1, 'Anna'), (22, NULL), (3, 'Bo');")
    conn.close()
    assert execute_and_print(db, "SELECT id, name FROM t ORDER BY id;", max_rows=2, timeout_s=5) == 0
    assert capsys.readouterr().out.splitlines() == ["id  name", "--  ----", "1   Anna", "3   Bo", "(3 rows, 1 not shown)"]
    assert execute_and_print(db, "WITH x AS (SELECT count(*) AS n FROM t) SELECT n FROM x", max_rows=2, timeout_s=5) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "-", "3", "(1 row)"]
    assert execute_and_print(db, "DELETE FROM t;", max_rows=2, timeout_s=5) == 1
    assert "refused: DELETE" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)
    conn.close()


def test_format_rows_of_an_empty_result() -> None:
    assert format_rows((), 5) == "(0 rows)"


@pytest.mark.slow
def test_execution_voting_from_the_command_line(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--model", registry.reference, "--db", str(shop(registry)), "--strategy", "execution_vote", "--candidates", "2", QUESTION]) == 0
    assert capsys.readouterr().out.strip().endswith(";")
    assert main(["generate", "--model", registry.reference, "--db", str(shop(registry)), "--strategy", "execution_vote", "--candidates", "1", QUESTION]) == 2
    assert "num_candidates" in capsys.readouterr().err


@pytest.mark.slow
def test_constrained_generation_keeps_to_the_grammar(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str]) -> None:
    import mlflow.pyfunc

    from t2sql_pipeline.core.inference.constrained_decoding import SchemaConstraints, check_prefix
    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    assert main(["generate", "--model", registry.reference, "--db", str(shop(registry)), "--constrained", "schema", QUESTION]) == 0
    printed = capsys.readouterr().out.strip()
    with process_tracking_uri(registry.tracking_uri):
        served = mlflow.pyfunc.load_model(f"models:/{registry.reference}").unwrap_python_model()
    check_prefix(SchemaConstraints.for_model(served.model, served.tokenizer).for_database(shop(registry)), printed.removesuffix(";"))
