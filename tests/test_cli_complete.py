"""`t2sql complete` and the pyfunc's `prefix` column on the registered tiny model: the answer starts with the prefix."""

from pathlib import Path

import pytest

from t2sql_pipeline.cli import main
from tests.conftest import RegisteredSqlModel

PREFIX = "SELECT count(*) FROM"


@pytest.fixture()
def registry(registered_sql_model: RegisteredSqlModel, monkeypatch: pytest.MonkeyPatch) -> RegisteredSqlModel:
    for key, value in registered_sql_model.env().items():
        monkeypatch.setenv(key, value)
    return registered_sql_model


def shop(registry: RegisteredSqlModel) -> Path:
    return registry.db_dir / "shop" / "shop.sqlite"


@pytest.fixture(scope="module")
def pyfunc_model(registered_sql_model: RegisteredSqlModel):
    import mlflow.pyfunc

    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    with process_tracking_uri(registered_sql_model.tracking_uri):
        return mlflow.pyfunc.load_model(f"models:/{registered_sql_model.reference}")


@pytest.mark.slow
def test_prints_a_completion_that_starts_with_the_prefix(registry: RegisteredSqlModel, pyfunc_model, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    assert main(["complete", "--model", registry.reference, "--db", str(shop(registry)), "--question", "How many customers are there?", PREFIX]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith(PREFIX) and printed.endswith(";")
    # The same as the registered model's own predict with a `prefix` column (its signature declares it).
    row = {"question": "How many customers are there?", "db_path": str(shop(registry)), "prefix": PREFIX}
    assert printed == pyfunc_model.predict(pd.DataFrame([row]))[0]


@pytest.mark.slow
def test_predict_mixes_questions_and_completions(registry: RegisteredSqlModel, pyfunc_model) -> None:
    import pandas as pd

    db = str(shop(registry))
    rows = [
        {"question": "How many customers are there?", "db_path": db},
        {"db_path": db, "prefix": "SELECT name FROM "},
        {"db_path": db, "prefix": "SELECT * FROM customers WHERE name = 'a;"},
    ]
    generated, completed, quoted = pyfunc_model.predict(pd.DataFrame(rows))
    assert generated == pyfunc_model.predict(pd.DataFrame(rows[:1]))[0]  # a question row is unaffected by completion rows
    assert completed.startswith("SELECT name FROM ")
    assert quoted.startswith("SELECT * FROM customers WHERE name = 'a;")  # a `;` inside a string does not end it


@pytest.mark.slow
def test_the_signature_declares_prefix(pyfunc_model) -> None:
    assert "prefix" in pyfunc_model.metadata.get_input_schema().input_names()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [(["   "], "the prefix is blank"), (["--model", "t2sql-demo@nope", PREFIX], "alias nope not found")],
)
def test_errors_are_one_line(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    model = [] if "--model" in args else ["--model", registry.reference]
    assert main(["complete", *model, "--db", str(shop(registry)), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_evaluation_report_measures_completion(registered_sql_model: RegisteredSqlModel) -> None:
    import json

    report = json.loads((registered_sql_model.run_dir / "evaluation_report" / "report.json").read_text())
    for label in ("base", "adapter"):
        figures = report["completion"][label]
        assert figures["n_questions"] == 12 and 0.0 <= figures["execution_accuracy"] <= 1.0 and 0.0 <= figures["rouge_l_sql"] <= 1.0
    lines = [json.loads(line) for line in (registered_sql_model.run_dir / "evaluation_report" / "completions.jsonl").read_text().splitlines()]
    assert len(lines) == 24 and all(line["completed_sql"].startswith(line["prefix"]) for line in lines)
    assert all(line["gold_sql"].startswith(line["prefix"]) for line in lines)
