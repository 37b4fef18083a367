"""The routes behind the page beyond `/generate_sql`: completion, schemas, read-only runs, the model's card.

- `POST /complete_sql` {prefix, schema | db_id, question?, evidence?} -> {sql}: the query starting with `prefix`.
- `GET /databases/{db_id}/schema` -> {db_id, tables: [{name, columns: [{name, type, primary_key, references}]}]}.
- `POST /run_sql` {db_id, sql} -> {columns, rows, row_count, count_capped, seconds}: read-only, time-limited,
  the first `RUN_MAX_ROWS` rows; a write is refused with 400.
- `GET /model` -> {name, version, aliases, execution_accuracy, base_execution_accuracy, eval_split_fingerprint}.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from t2sql_pipeline.serving.databases import DatabaseFolder, DatabaseNotFound, DatabaseRefused
from t2sql_pipeline.serving.explore import QueryFailed, QueryRefused, database_tables, run_readonly
from t2sql_pipeline.serving.generator import SqlGenerator

MAX_PREFIX_CHARS = 4_000
MAX_SQL_CHARS = 20_000
RUN_TIMEOUT_S = 5.0  # a page's "Run" is for looking at rows, not for heavy queries
RUN_MAX_ROWS = 50


@dataclass(frozen=True)
class ModelCard:
    """Which model answers: shown at the top of the page."""

    name: str
    version: str
    aliases: tuple[str, ...] = ()
    execution_accuracy: float | None = None  # on its evaluation split, from the version's tags
    base_execution_accuracy: float | None = None
    eval_split_fingerprint: str | None = None  # which questions the scores come from (the gate compares on the same)


def model_card_from_tags(name: str, version: str, aliases: tuple[str, ...], tags: dict[str, str]) -> ModelCard:
    """The card from a registered version's tags (the pipeline writes the scores there; hand-registered versions lack them)."""

    def number(key: str) -> float | None:
        try:
            return float(tags[key])
        except (KeyError, ValueError):
            return None

    return ModelCard(
        name, version, aliases, number("execution_accuracy"), number("base_execution_accuracy"), tags.get("eval_split")
    )  # the tag holds a fingerprint of the rows


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prefix: str = Field(min_length=1, max_length=MAX_PREFIX_CHARS)
    question: str | None = Field(default=None, max_length=2_000)
    schema_text: str | None = Field(default=None, alias="schema", min_length=1, max_length=200_000)
    db_id: str | None = Field(default=None, min_length=1, max_length=128)
    evidence: str | None = Field(default=None, max_length=4_000)

    @model_validator(mode="after")
    def one_source_of_schema(self) -> CompleteRequest:
        if (self.schema_text is None) == (self.db_id is None):
            raise ValueError("give exactly one of 'schema' (CREATE TABLE text) or 'db_id' (a database in the server's folder)")
        if not self.prefix.strip():
            raise ValueError("'prefix' is blank: type the start of a query, e.g. SELECT count(*) FROM")
        return self


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db_id: str = Field(min_length=1, max_length=128)
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def add_page_routes(app: FastAPI, databases: DatabaseFolder, generator: SqlGenerator, card: ModelCard) -> None:
    """Register the routes above on `app` (its error handlers already turn failures into `{"error"}`)."""

    def database(db_id: str) -> Path | JSONResponse:
        try:
            return databases.path_of(db_id)
        except DatabaseRefused as refused:
            return _error(400, str(refused))
        except DatabaseNotFound as missing:
            return _error(404, str(missing))

    @app.get("/model")
    def model() -> dict[str, Any]:
        return asdict(card)

    @app.get("/databases/{db_id}/schema")
    def schema(db_id: str) -> Any:
        path = database(db_id)
        if isinstance(path, JSONResponse):
            return path
        try:
            tables = database_tables(path)
        except (OSError, ValueError) as bad:
            return _error(400, str(bad))
        return {"db_id": db_id, "tables": [asdict(table) for table in tables]}

    @app.post("/complete_sql")
    def complete_sql(request: CompleteRequest) -> Any:
        db_path = None
        if request.db_id is not None:
            found = database(request.db_id)
            if isinstance(found, JSONResponse):
                return found
            db_path = found
        question = request.question if request.question and request.question.strip() else None
        try:
            sql = generator.complete(request.prefix, question=question, schema=request.schema_text, db_path=db_path, evidence=request.evidence)
        except ValueError as bad:
            return _error(400, str(bad))
        return {"sql": sql}

    @app.post("/run_sql")
    def run_sql(request: RunRequest) -> Any:
        path = database(request.db_id)
        if isinstance(path, JSONResponse):
            return path
        try:
            result = run_readonly(path, request.sql, timeout_s=RUN_TIMEOUT_S, max_rows=RUN_MAX_ROWS)
        except (QueryRefused, QueryFailed) as bad:
            return _error(400, str(bad))
        return asdict(result)
