"""What the registered model and `t2sql serve` answer: requests (a question with a schema text or a
database file, evidence, optionally a started query), validated, turned into the training prompt, and
answered by the same generation, voting, completion and constrained decoding as evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.settings import PipelineSettings

if TYPE_CHECKING:
    import pandas as pd

INPUT_COLUMNS = ("question", "schema", "db_path", "evidence", "prefix")  # prefix: complete a started query


class SqlModelInputError(ValueError):
    """An input row the model cannot answer: no question (nor prefix), not exactly one of schema/db_path,
    a prompt over the model's limit, or a prefix the schema grammar rejects."""


@dataclass(frozen=True)
class SqlRequest:
    """One input row, validated."""

    question: str
    schema: str | None
    db_path: str | None
    evidence: str | None
    prefix: str | None = None  # the start of the query: the answer is this text verbatim, continued


def requests_from_frame(frame: pd.DataFrame) -> list[SqlRequest]:
    """Validate a DataFrame of requests; the error names the row and the problem."""
    unknown = sorted(set(frame.columns) - set(INPUT_COLUMNS))
    if unknown:
        raise SqlModelInputError(f"unknown input columns {unknown}; expected question, schema or db_path, and optionally evidence, prefix")
    if "question" not in frame.columns and "prefix" not in frame.columns:
        raise SqlModelInputError("input has no 'question' column (nor a 'prefix' to complete)")
    requests = []
    for index, row in enumerate(frame.to_dict(orient="records")):
        values = {column: _text(row.get(column)) for column in INPUT_COLUMNS}
        values["prefix"] = _prefix(row.get("prefix"))
        if not values["question"] and values["prefix"] is None:
            raise SqlModelInputError(f"row {index}: 'question' is empty" + (" (and so is 'prefix')" if "prefix" in frame.columns else ""))
        if (values["schema"] is None) == (values["db_path"] is None):
            raise SqlModelInputError(f"row {index}: give exactly one of 'schema' (CREATE TABLE text) or 'db_path' (a SQLite file)")
        requests.append(SqlRequest(values["question"] or "", values["schema"], values["db_path"], values["evidence"], values["prefix"]))
    return requests


def _text(value: Any) -> str | None:
    # Missing optional columns arrive as None or NaN from dataframe_records.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        raise SqlModelInputError(f"expected text, got {type(value).__name__} {value!r}")
    return value if value.strip() else None


def _prefix(value: Any) -> str | None:
    # Unlike the other fields, a prefix keeps its own whitespace (it is returned verbatim); blank means none.
    text = _text(value)
    return value if text is not None else None


def request_prompt(tokenizer: Any, settings: PipelineSettings, prompt_format: str, request: SqlRequest) -> tuple[list[int], list[int]]:
    """(prompt ids, the ids of its pre-filled part): the training prompt for `request`, with its prefix, if any,
    pre-filled in the assistant turn (no prefix: nothing pre-filled). Over `prompt.max_seq_length`, the schema's
    sample values are dropped, the same first shrink step as training (the others need the gold SQL)."""
    from t2sql_pipeline.core.data.db_schema import render_database_schema
    from t2sql_pipeline.core.data.schema_prompt import drop_sample_values
    from t2sql_pipeline.core.inference.completion import completion_prompt_ids
    from t2sql_pipeline.core.training.tokenization import encode_prompt, user_message

    prompt = settings.prompt
    fmt = "inst" if prompt_format == "inst" else "chat_template"
    schema = request.schema if request.schema is not None else render_database_schema(Path(request.db_path or ""), prompt.sample_values)
    evidence = request.evidence if prompt.include_evidence else None

    def encode(schema_text: str) -> tuple[list[int], list[int]]:
        message = user_message(schema_text, request.question, evidence)
        if request.prefix is None:
            return encode_prompt(tokenizer, message, fmt), []
        return completion_prompt_ids(tokenizer, message, request.prefix, fmt)

    ids = encode(schema)
    if len(ids[0]) > prompt.max_seq_length:
        ids = encode(drop_sample_values(schema, ""))
    if len(ids[0]) > prompt.max_seq_length:
        what = f"the prompt for {request.question[:60]!r}" + (f" with the prefix {request.prefix[:60]!r}" if request.prefix is not None else "")
        raise SqlModelInputError(f"{what} has {len(ids[0])} tokens, over the model's limit of {prompt.max_seq_length}; send a smaller schema")
    return ids


def request_prompt_ids(tokenizer: Any, settings: PipelineSettings, prompt_format: str, request: SqlRequest) -> list[int]:
    """The prompt's token ids alone (see `request_prompt`)."""
    return request_prompt(tokenizer, settings, prompt_format, request)[0]


def generate_sql(model: Any, tokenizer: Any, settings: PipelineSettings, prompt_format: str, requests: list[SqlRequest]) -> list[str]:
    """SQL for each request (without a prefix), by the same batched generation and extraction as evaluation: greedy,
    or with `generation.strategy=execution_vote` voted by execution on the request's database (a request with a
    schema text but no database has nothing to run on: greedy); with `generation.constrained=schema` each answer
    keeps to its database's grammar (from the file, or from the schema text)."""
    from t2sql_pipeline.core.inference.generation import generate_answers
    from t2sql_pipeline.core.inference.voting import vote_answers
    from t2sql_pipeline.core.sql.extraction import extract_sql

    prompts = [request_prompt_ids(tokenizer, settings, prompt_format, request) for request in requests]
    sql = [""] * len(requests)
    voting = [i for i, r in enumerate(requests) if r.db_path] if settings.generation.strategy == "execution_vote" else []
    if voting:
        answers, _ = vote_answers(
            model, tokenizer, [prompts[i] for i in voting], [Path(requests[i].db_path or "") for i in voting], settings, lambda _d, _t: None
        )
        for index, answer in zip(voting, answers, strict=True):
            sql[index] = answer.sql
    greedy = [i for i in range(len(requests)) if i not in set(voting)]
    if greedy:
        g = settings.generation
        grammars = request_grammars(model, tokenizer, settings, [requests[i] for i in greedy])
        answers = generate_answers(model, tokenizer, [prompts[i] for i in greedy], max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, grammars=grammars)
        for index, answer in zip(greedy, answers, strict=True):
            sql[index] = extract_sql(answer.text)
    return sql


def complete_requests(model: Any, tokenizer: Any, settings: PipelineSettings, prompt_format: str, requests: list[SqlRequest]) -> list[str]:
    """Each request's started query (`prefix`) completed: the prefix verbatim, then the model's continuation."""
    from t2sql_pipeline.core.inference.completion import complete_sql

    prompts = [request_prompt(tokenizer, settings, prompt_format, request) for request in requests]
    g = settings.generation
    grammars = request_grammars(model, tokenizer, settings, requests)
    return complete_sql(
        model, tokenizer, prompts, [request.prefix or "" for request in requests],
        max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, grammars=grammars,
    )  # fmt: skip


def request_grammars(model: Any, tokenizer: Any, settings: PipelineSettings, requests: list[SqlRequest]) -> list[Any] | None:
    """With `generation.constrained: schema`, one grammar per request (from its database file or its schema text),
    and each request's prefix checked against it: a prefix the grammar rejects is a `SqlModelInputError` naming where."""
    if settings.generation.constrained == "none":
        return None
    from t2sql_pipeline.core.inference.constrained_decoding import PrefixRejectedError, SchemaConstraints, check_prefix

    constraints = SchemaConstraints.for_model(model, tokenizer)
    grammars = []
    for index, request in enumerate(requests):
        try:
            grammar = constraints.for_database(request.db_path) if request.db_path else constraints.for_schema_text(request.schema or "")
            if request.prefix is not None:
                check_prefix(grammar, request.prefix.rstrip())
        except (PrefixRejectedError, ValueError) as error:
            raise SqlModelInputError(f"row {index}: {error}") from None
        grammars.append(grammar)
    return grammars
