"""The HTTP API of `t2sql serve`: `POST /generate_sql` {question, schema | db_id, evidence?} -> {sql},
and the page's routes (`serving.page_api`: /complete_sql, /run_sql, /model, /databases/{db_id}/schema).

The request/response shape is the one existing text-to-SQL front ends use. Every
error is JSON `{"error": "<message>"}`: 400 for a refused db_id, 404 for an
unknown one, 413 for an oversized body, 415 for a body that is not JSON, 422 for a malformed request (the message
names the field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from t2sql_pipeline.serving.databases import DatabaseFolder, DatabaseNotFound, DatabaseRefused
from t2sql_pipeline.serving.generator import SqlGenerator
from t2sql_pipeline.serving.page import PAGE_HTML
from t2sql_pipeline.serving.page_api import ModelCard, add_page_routes

MAX_QUESTION_CHARS = 2_000
MAX_SCHEMA_CHARS = 200_000
MAX_EVIDENCE_CHARS = 4_000
MAX_BODY_BYTES = 1_000_000  # the largest valid request (a 200k-char schema, even as \\uXXXX escapes) fits


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    schema_text: str | None = Field(default=None, alias="schema", min_length=1, max_length=MAX_SCHEMA_CHARS)  # "schema" shadows a BaseModel attribute
    db_id: str | None = Field(default=None, min_length=1, max_length=128)
    evidence: str | None = Field(default=None, max_length=MAX_EVIDENCE_CHARS)

    @model_validator(mode="after")
    def one_source_of_schema(self) -> GenerateRequest:
        if (self.schema_text is None) == (self.db_id is None):
            raise ValueError("give exactly one of 'schema' (CREATE TABLE text) or 'db_id' (a database in the server's folder)")
        if not self.question.strip():
            raise ValueError("'question' is blank")
        return self


class GenerateResponse(BaseModel):
    sql: str


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


ALLOWED_FIELDS = {"/complete_sql": "prefix, question, schema, db_id, evidence", "/run_sql": "db_id, sql"}  # default: /generate_sql's


def describe_validation(exc: RequestValidationError, allowed: str = "question, schema, db_id, evidence") -> str:
    """One line per problem, each naming the field: `schema: String should have at most 200000 characters`."""
    messages = []
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        kind = item.get("type", "")
        if kind == "extra_forbidden":
            messages.append(f"unknown field {location[-1]!r} (allowed: {allowed})")
        elif kind == "json_invalid":
            messages.append("the request body is not valid JSON")
        elif kind == "missing" and not location:
            messages.append("the request needs a JSON body")
        else:
            text = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            where = ".".join(location) or ("" if kind == "value_error" else "request body")  # value_error: our own whole-request checks
            messages.append(f"{where}: {text}" if where else text)
    return "; ".join(messages) or "invalid request"


def create_app(generator: SqlGenerator, db_dir: Path, model_reference: str = "", card: ModelCard | None = None) -> FastAPI:
    """The API over `generator`, answering `db_id`s from `db_dir`; `card` says which model answers."""
    databases = DatabaseFolder(db_dir)
    app = FastAPI(title="t2sql", description="Questions to SQL with a registered LoRA adapter.", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None:
                return error(411, "send the body with a Content-Length header")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return error(413, f"request body over {MAX_BODY_BYTES} bytes")
            media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                return error(415, f"send the body as application/json (Content-Type was {media_type or 'missing'!r})")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        allowed = ALLOWED_FIELDS.get(request.url.path)
        return error(422, describe_validation(exc, allowed) if allowed else describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE_HTML

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": model_reference}

    @app.get("/databases")
    def list_databases() -> list[str]:
        return databases.ids()

    @app.post("/generate_sql", response_model=GenerateResponse)
    def generate_sql(request: GenerateRequest) -> Any:
        # A plain `def`: FastAPI runs it in a worker thread, so generation never blocks the event loop.
        db_path = None
        if request.db_id is not None:
            try:
                db_path = databases.path_of(request.db_id)
            except DatabaseRefused as refused:
                return error(400, str(refused))
            except DatabaseNotFound as missing:
                return error(404, str(missing))
        try:
            sql = generator.generate(request.question, schema=request.schema_text, db_path=db_path, evidence=request.evidence)
        except ValueError as bad:  # the model's own input checks (e.g. a prompt over its token limit, an unreadable database)
            return error(400, str(bad))
        return GenerateResponse(sql=sql)

    name, _, version = model_reference.partition("/")
    add_page_routes(app, databases, generator, card or ModelCard(name or "unknown", version))

    return app
