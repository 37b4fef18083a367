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


@pytest.mark.slow
def test_constrained_answers_and_completions_keep_to_the_grammar(registry: RegisteredSqlModel, pyfunc_model) -> None:
    import pandas as pd

    from t2sql_pipeline.core.inference.constrained_decoding import SchemaConstraints, check_prefix

    served = pyfunc_model.unwrap_python_model()
    grammar = SchemaConstraints.for_model(served.model, served.tokenizer).for_database(shop(registry))
    frame = pd.DataFrame(
        [
            {"question": "How many customers are there?", "db_path": str(shop(registry))},
            {"question": "How many customers are there?", "db_path": str(shop(registry)), "prefix": PREFIX},
        ]
    )
    answer, completion = pyfunc_model.predict(frame, params={"constrained": "schema"})
    check_prefix(grammar, answer.removesuffix(";"))  # the tiny model may stop at max_new_tokens: a start the grammar takes
    assert completion.startswith(PREFIX)
    check_prefix(grammar, completion.removesuffix(";"))


@pytest.mark.slow
def test_a_prefix_the_grammar_rejects_is_a_one_line_error(registry: RegisteredSqlModel, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["complete", "--model", registry.reference, "--db", str(shop(registry)), "--constrained", "schema", "SELECT heigheight FROM customers"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("t2sql complete: row 0: the prefix is not SQL this database's grammar accepts: it stops at character 17 ' '")
    assert "\n" not in err
    # Free decoding takes any prefix.
    assert main(args[:5] + ["SELECT heigheight FROM customers"]) == 0


@pytest.mark.slow
def test_an_unknown_constrained_value_is_refused(pyfunc_model, registry: RegisteredSqlModel) -> None:
    import pandas as pd

    from t2sql_pipeline.core.inference.requests import SqlModelInputError

    with pytest.raises(SqlModelInputError, match=r"bad params \{'constrained': 'maybe'\}"):
        pyfunc_model.unwrap_python_model().predict(None, pd.DataFrame([{"question": "q", "db_path": str(shop(registry))}]), {"constrained": "maybe"})
