"""Requests as the registered model and `t2sql serve` receive them: validated rows, and their prompts."""

from __future__ import annotations

import pandas as pd
import pytest

from t2sql_pipeline.core.data.schema_prompt import SAMPLE_VALUES_PREFIX
from t2sql_pipeline.core.inference.completion import completion_prompt_ids
from t2sql_pipeline.core.inference.requests import SqlModelInputError, SqlRequest, request_prompt, requests_from_frame
from t2sql_pipeline.core.settings import load_settings
from t2sql_pipeline.core.training.tokenization import encode_prompt, user_message

SCHEMA = f"CREATE TABLE customers (id INTEGER, name TEXT);\n{SAMPLE_VALUES_PREFIX} " + "Paris Lyon Lille Nice " * 8


def test_requests_from_frame_checks_columns_without_a_model() -> None:
    # Through pyfunc, MLflow drops columns outside the signature (with a warning) before predict sees them.
    with pytest.raises(SqlModelInputError, match="unknown input columns \\['sql'\\]"):
        requests_from_frame(pd.DataFrame([{"question": "q", "schema": "s", "sql": "SELECT 1"}]))
    with pytest.raises(SqlModelInputError, match="no 'question' column"):
        requests_from_frame(pd.DataFrame([{"schema": "x"}]))
    with pytest.raises(SqlModelInputError, match="row 0: 'question' is empty \\(and so is 'prefix'\\)"):
        requests_from_frame(pd.DataFrame([{"schema": "x", "prefix": "  "}]))
    assert requests_from_frame(pd.DataFrame([{"db_path": "/x", "prefix": "SELECT * FROM "}])) == [SqlRequest("", None, "/x", None, "SELECT * FROM ")]
    assert requests_from_frame(pd.DataFrame([{"question": "q", "schema": "s", "evidence": float("nan")}])) == [SqlRequest("q", "s", None, None)]


def test_a_request_gets_the_training_prompt_and_a_prefix_is_pre_filled(tiny_model) -> None:
    _, tokenizer = tiny_model
    settings = load_settings("demo", ["prompt.max_seq_length=400"])
    ids, filled = request_prompt(tokenizer, settings, "inst", SqlRequest("How many customers?", SCHEMA, None, None))
    assert ids == encode_prompt(tokenizer, user_message(SCHEMA, "How many customers?", None), "inst") and filled == []
    ids, filled = request_prompt(tokenizer, settings, "inst", SqlRequest("How many customers?", SCHEMA, None, None, "SELECT count(*) FROM "))
    assert (ids, filled) == completion_prompt_ids(tokenizer, user_message(SCHEMA, "How many customers?", None), "SELECT count(*) FROM ", "inst")
    assert filled and ids[-len(filled) :] == filled


def test_over_the_budget_the_sample_values_go_first_then_the_request_is_refused(tiny_model) -> None:
    _, tokenizer = tiny_model
    request = SqlRequest("How many customers?", SCHEMA, None, None)
    full = len(request_prompt(tokenizer, load_settings("demo", ["prompt.max_seq_length=400"]), "inst", request)[0])
    shrunk = encode_prompt(tokenizer, user_message(SCHEMA.splitlines()[0], "How many customers?", None), "inst")
    assert len(shrunk) < full
    settings = load_settings("demo", [f"prompt.max_seq_length={len(shrunk)}"])
    assert request_prompt(tokenizer, settings, "inst", request) == (shrunk, [])
    tight = load_settings("demo", [f"prompt.max_seq_length={len(shrunk) - 1}"])
    with pytest.raises(
        SqlModelInputError, match=f"the prompt for 'How many customers\\?' with the prefix 'SELECT' has .* over the model's limit of {len(shrunk) - 1}"
    ):
        request_prompt(tokenizer, tight, "inst", SqlRequest("How many customers?", SCHEMA, None, None, "SELECT"))
