"""The one normalized example schema every source produces, and the load report."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from t2sql_pipeline.core.data.schema_prompt import render_schema
from t2sql_pipeline.core.sql.execution import ExecLimits, execute_readonly
from t2sql_pipeline.core.sql.sqlite_files import connect_read_only

Source = Literal["spider", "bird"]
GOLD_CHECK_LIMITS = ExecLimits(timeout_s=30.0, max_rows=1_000_000)


@dataclass(frozen=True)
class Example:
    example_id: str  # "<source>/<split>/<index in the source file>"
    source: Source
    split: str
    db_id: str
    question: str
    evidence: str
    gold_sql: str
    difficulty: str
    db_path: str
    schema: str


@dataclass(frozen=True)
class ExcludedExample:
    example_id: str
    db_id: str
    reason: Literal["missing_schema", "missing_database", "database_unreadable", "gold_sql_fails"]
    detail: str


@dataclass(frozen=True)
class LoadResult:
    """Examples kept, and every example excluded with its reason (never a silent drop)."""

    examples: list[Example]
    excluded: list[ExcludedExample] = field(default_factory=list)

    def excluded_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.excluded:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts


class SourceFormatError(ValueError):
    """A release file that is missing, not JSON, or not in the expected layout; names file and entry."""


def read_json_list(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SourceFormatError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SourceFormatError(f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    if not isinstance(data, list):
        raise SourceFormatError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def field_of(record: dict[str, Any], key: str, path: Path, index: int) -> str:
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, str):
        raise SourceFormatError(f"{path}: entry {index}: missing or non-text field {key!r}")
    return value


def read_schemas(tables_path: Path) -> dict[str, str]:
    """db_id -> rendered CREATE TABLE text, from a Spider-format tables file."""
    schemas = {}
    for index, entry in enumerate(read_json_list(tables_path)):
        db_id = field_of(entry, "db_id", tables_path, index)
        try:
            schemas[db_id] = render_schema(entry)
        except ValueError as error:
            raise SourceFormatError(f"{tables_path}: entry {index} ({db_id}): {error}") from None
    return schemas


def missing_schema(example_id: str, db_id: str, tables_path: Path) -> ExcludedExample:
    """A question whose database has no entry in the tables file: excluded and listed, the rest still loads."""
    return ExcludedExample(example_id, db_id, "missing_schema", f"db_id {db_id!r} is not in {tables_path}")


def database_problem(db_path: Path) -> str | None:
    """Why SQLite cannot read `db_path` (e.g. "file is not a database"), or None when it can."""
    try:
        conn = connect_read_only(db_path)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        return f"{type(error).__name__}: {error}"
    return None


def check_and_collect(
    candidates: list[Example], check_gold: bool, *, require_database: bool = True, excluded: list[ExcludedExample] | None = None
) -> LoadResult:
    """Keep examples whose database exists and whose gold SQL executes; list the rest with reasons
    (after `excluded`, what the loader already set aside, e.g. questions without a schema).

    `require_database=False` (questions only, e.g. to study sampling on BIRD dev without its
    1.5 GB of databases) keeps examples whose database is absent, unchecked; the pipeline never
    does this, since training and evaluation need executable gold SQL.
    """
    kept: list[Example] = []
    excluded = list(excluded or [])
    problems: dict[str, str | None] = {}  # per database file, checked once
    for example in candidates:
        if not require_database and not Path(example.db_path).is_file():
            kept.append(example)
            continue
        if not Path(example.db_path).is_file():
            excluded.append(ExcludedExample(example.example_id, example.db_id, "missing_database", example.db_path))
            continue
        if example.db_path not in problems:
            problems[example.db_path] = database_problem(Path(example.db_path))
        if problems[example.db_path] is not None:
            excluded.append(ExcludedExample(example.example_id, example.db_id, "database_unreadable", f"{example.db_path}: {problems[example.db_path]}"))
            continue
        if check_gold:
            result = execute_readonly(Path(example.db_path), example.gold_sql, GOLD_CHECK_LIMITS)
            if not result.ok:
                excluded.append(ExcludedExample(example.example_id, example.db_id, "gold_sql_fails", f"{result.error_kind}: {result.error}"))
                continue
        kept.append(example)
    return LoadResult(kept, excluded)


def to_records(examples: list[Example]) -> list[dict[str, Any]]:
    return [asdict(example) for example in examples]
