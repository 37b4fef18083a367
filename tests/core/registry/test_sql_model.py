"""The registered pyfunc SQL model: loads from `models:/NAME@champion`, builds the training prompt, returns SQL."""

from pathlib import Path

import pandas as pd
import pytest

from t2sql_pipeline.core.data import db_schema
from t2sql_pipeline.core.data.example_store import read_examples
from t2sql_pipeline.core.inference.requests import SqlModelInputError, SqlRequest, request_prompt_ids
from t2sql_pipeline.core.settings import load_settings
from tests.conftest import TINY_PIPELINE, RegisteredSqlModel

pytestmark = pytest.mark.slow  # the fixture trains and registers a model


@pytest.fixture(scope="module")
def pyfunc_model(registered_sql_model: RegisteredSqlModel):
    import mlflow.pyfunc

    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    with process_tracking_uri(registered_sql_model.tracking_uri):
        return mlflow.pyfunc.load_model(f"models:/{registered_sql_model.reference}")


@pytest.fixture(scope="module")
def test_rows(registered_sql_model: RegisteredSqlModel) -> list[dict]:
    """Test-split rows as training tokenized them, with each example's evidence."""
    from datasets import load_from_disk

    rows = load_from_disk(str(registered_sql_model.run_dir / "tokenized_splits" / "dataset"))["test"].to_list()
    evidence = {e.example_id: e.evidence for e in read_examples(registered_sql_model.run_dir / "stratified_sample" / "examples.parquet")}
    return [{**row, "evidence": evidence[row["example_id"]]} for row in rows]


def test_predictions_equal_core_generation_on_the_training_prompt(registered_sql_model: RegisteredSqlModel, pyfunc_model, test_rows: list[dict]) -> None:
    from t2sql_pipeline.core.inference.generation import generate_completions
    from t2sql_pipeline.core.inference.loading import load_for_inference
    from t2sql_pipeline.core.sql.extraction import extract_sql

    settings = load_settings("demo", TINY_PIPELINE)
    rows = [r for r in test_rows if r["source"] == "spider"][:2] + [r for r in test_rows if r["source"] == "bird" and r["evidence"]][:2]
    assert len(rows) == 4
    run_dir = registered_sql_model.run_dir
    model, tokenizer = load_for_inference(str(run_dir / "base_model" / "model"), str(run_dir / "lora_adapter" / "adapter"), settings)
    raw = generate_completions(model, tokenizer, [r["prompt_ids"] for r in rows], max_new_tokens=settings.generation.max_new_tokens, batch_size=4)
    expected = [extract_sql(text) for text in raw]

    frame = pd.DataFrame([{"question": r["question"], "db_path": r["db_path"], "evidence": r["evidence"] or None} for r in rows])
    predicted = list(pyfunc_model.predict(frame))
    assert predicted == expected
    assert all(sql.endswith(";") and len(sql) > 1 for sql in predicted)


def test_the_prompt_is_the_training_prompt_from_a_file_or_schema_text(pyfunc_model, test_rows: list[dict]) -> None:
    python_model = pyfunc_model.unwrap_python_model()
    settings, fmt, tokenizer = python_model.settings, python_model.prompt_format, python_model.tokenizer
    for row in [r for r in test_rows if r["source"] == "spider"][:2] + [r for r in test_rows if r["evidence"]][:2]:
        from_file = request_prompt_ids(tokenizer, settings, fmt, SqlRequest(row["question"], None, row["db_path"], row["evidence"] or None))
        schema = db_schema.render_database_schema(Path(row["db_path"]))
        from_text = request_prompt_ids(tokenizer, settings, fmt, SqlRequest(row["question"], schema, None, row["evidence"] or None))
        assert from_file == from_text == row["prompt_ids"]


def test_schema_and_db_path_inputs_give_the_same_sql(pyfunc_model, test_rows: list[dict]) -> None:
    row = test_rows[0]
    schema = db_schema.render_database_schema(Path(row["db_path"]))
    frame = pd.DataFrame([{"question": row["question"], "db_path": row["db_path"]}, {"question": row["question"], "schema": schema}])
    first, second = pyfunc_model.predict(frame)
    assert first == second


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"question": "How many?"}], "exactly one of 'schema'"),
        ([{"question": "How many?", "schema": "CREATE TABLE t (a INTEGER);", "db_path": "/x.sqlite"}], "exactly one of 'schema'"),
        ([{"question": "   ", "schema": "CREATE TABLE t (a INTEGER);"}], "row 0: 'question' is empty"),
        ([{"question": "ok", "schema": "CREATE TABLE t (a INTEGER);"}, {"question": "ok"}], "row 1"),
    ],
)
def test_bad_rows_get_a_clear_error(pyfunc_model, rows: list[dict], message: str) -> None:
    with pytest.raises(Exception, match=message):
        pyfunc_model.predict(pd.DataFrame(rows))


def test_a_missing_database_file_is_named(pyfunc_model, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.sqlite"):
        pyfunc_model.predict(pd.DataFrame([{"question": "How many?", "db_path": str(tmp_path / "absent.sqlite")}]))


def test_a_prompt_over_the_token_limit_is_refused(pyfunc_model) -> None:
    schema = "\n".join(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT);" for i in range(200))
    with pytest.raises(SqlModelInputError, match="over the model's limit of 512"):
        pyfunc_model.predict(pd.DataFrame([{"question": "How many?", "schema": schema}]))


def test_registered_version_is_an_mlflow_model_with_signature(registered_sql_model: RegisteredSqlModel, pyfunc_model) -> None:
    from mlflow import MlflowClient

    inputs = pyfunc_model.metadata.get_input_schema()
    assert inputs.input_names() == ["question", "schema", "db_path", "evidence", "prefix"]
    assert [c.required for c in inputs.inputs] == [False] * 5  # a completion (prefix) needs no question; rows are checked in predict
    version = MlflowClient(registered_sql_model.tracking_uri).get_model_version(registered_sql_model.name, registered_sql_model.version)
    assert version.source.startswith("models:/m-") and version.tags["promotion_reason"]
    flavor = pyfunc_model.metadata.flavors["python_function"]
    assert flavor.get("model_code_path") and "python_model" not in flavor  # logged from code: no pickled object


def test_requirements_are_pinned_so_serving_builds_no_environment(registered_sql_model: RegisteredSqlModel) -> None:
    from importlib.metadata import version

    import mlflow.pyfunc

    from t2sql_pipeline.core.registry.sql_model import process_tracking_uri

    with process_tracking_uri(registered_sql_model.tracking_uri):
        requirements = Path(mlflow.pyfunc.get_model_dependencies(f"models:/{registered_sql_model.reference}")).read_text().split()
    assert f"torch=={version('torch')}" in requirements and f"mlflow=={version('mlflow')}" in requirements


def test_execution_voting_is_a_predict_time_param(pyfunc_model, test_rows: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    from t2sql_pipeline.core.inference import voting
    from t2sql_pipeline.core.inference.voting import SampledAnswer

    row = test_rows[0]
    frame = pd.DataFrame([{"question": row["question"], "db_path": row["db_path"]}, {"question": row["question"], "schema": "CREATE TABLE t (x INT);"}])
    seen: list[int] = []

    def crafted(model, tokenizer, prompts, *, num_candidates, **_):  # type: ignore[no-untyped-def]
        seen.append(num_candidates)  # only the row with a database votes: the schema-only row has nothing to run on
        return [
            [SampledAnswer("SELECT 1", -0.5, True, 3, greedy=True), SampledAnswer("SELECT 1 AS one", -0.2, True, 4), SampledAnswer("SELECT 2", -0.1, True, 3)]
            for _ in prompts
        ]

    monkeypatch.setattr(voting, "sample_answers", crafted)
    greedy = pyfunc_model.predict(frame)
    voted = pyfunc_model.predict(frame, params={"strategy": "execution_vote", "num_candidates": 3})
    assert seen == [3]
    assert voted[0] == "SELECT 1 AS one;" and voted[1] == greedy[1]  # the majority result, its likeliest text


def test_constrained_decoding_is_a_predict_time_param(pyfunc_model, test_rows: list[dict]) -> None:
    from t2sql_pipeline.core.data.db_schema import tables_entry_from_sqlite
    from t2sql_pipeline.core.sql.schema_grammar import SchemaNames, schema_lark, text_rejection

    rows = [r for r in test_rows if r["source"] == "spider"][:2]
    frame = pd.DataFrame([{"question": r["question"], "db_path": r["db_path"]} for r in rows])
    constrained = pyfunc_model.predict(frame, params={"constrained": "schema"})
    for row, sql in zip(rows, constrained, strict=True):
        lark = schema_lark(SchemaNames.from_tables_entry(tables_entry_from_sqlite(Path(row["db_path"]))))
        # a whole query, or one cut at max_new_tokens (the `;` was added after it): a start the grammar takes
        assert text_rejection(lark, sql) is None or text_rejection(lark, sql.removesuffix(";"), complete=False) is None, sql


@pytest.mark.parametrize(
    ("params", "message"), [({"num_candidates": 1}, "bad params"), ({"strategy": "beam"}, "bad params"), ({"constrained": "regex"}, "bad params")]
)
def test_bad_params_get_a_clear_error(pyfunc_model, params: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        pyfunc_model.predict(pd.DataFrame([{"question": "How many?", "schema": "CREATE TABLE t (x INT);"}]), params=params)
