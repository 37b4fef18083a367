"""The input files of `t2sql evaluate`: gold (`SQL<TAB>db_id`), predictions, BIRD difficulties, tables.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from t2sql_pipeline.core.sql.text_metrics import DbSchema


class EvaluationInputError(ValueError):
    """A gold or prediction file that cannot be evaluated; the message names file and line."""


@dataclass(frozen=True)
class GoldQuery:
    """One gold question: SQL, database id and (BIRD) difficulty when known."""

    sql: str
    db_id: str
    difficulty: str | None = None


def _read_lines(path: Path) -> list[str]:
    """Lines as the official scripts see them (universal newlines, no final empty line)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EvaluationInputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_gold_file(path: Path, *, difficulties: Sequence[str] | None = None) -> list[GoldQuery]:
    """Read `SQL<TAB>db_id` lines (Spider dev_gold.sql, BIRD dev.sql)."""
    gold = []
    for number, line in enumerate(_read_lines(path), start=1):
        sql, tab, db_id = line.strip().rpartition("\t")
        if not tab or not sql.strip() or not db_id.strip():
            raise EvaluationInputError(f"{path}:{number}: expected 'SQL<TAB>db_id', got {line[:80]!r}")
        gold.append(GoldQuery(sql.strip(), db_id.strip()))
    if not gold:
        raise EvaluationInputError(f"{path}: no questions (the gold file is empty)")
    if difficulties is not None:
        if len(difficulties) != len(gold):
            raise EvaluationInputError(f"{path} has {len(gold)} questions but the difficulty file has {len(difficulties)}")
        gold = [replace(g, difficulty=d) for g, d in zip(gold, difficulties, strict=True)]
    return gold


def read_prediction_file(path: Path, *, expected: int | None = None) -> list[str]:
    """One predicted SQL per line; anything after a TAB on a line is ignored."""
    # Exactly the official text (strip, then cut at the TAB): " value " matching depends on it.
    predictions = [line.strip().split("\t")[0] for line in _read_lines(path)]
    if expected is not None and len(predictions) != expected:
        raise EvaluationInputError(f"{path} has {len(predictions)} prediction lines but the gold file has {expected} questions")
    return predictions


def read_bird_difficulties(dev_json: Path) -> list[str]:
    """The `difficulty` of every question in a BIRD dev.json, in file order."""
    records = json.loads(dev_json.read_text(encoding="utf-8"))
    try:
        return [str(record["difficulty"]) for record in records]
    except (KeyError, TypeError) as exc:
        raise EvaluationInputError(f"{dev_json}: every record needs a 'difficulty' field") from exc


def read_tables_json(path: Path) -> dict[str, DbSchema]:
    """Schemas from a Spider-format tables.json (original table and column names)."""
    schemas = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        tables: dict[str, list[str]] = {name: [] for name in entry["table_names_original"]}
        for table_index, column in entry["column_names_original"]:
            if table_index >= 0:  # -1 is Spider's "*"
                tables[entry["table_names_original"][table_index]].append(column)
        schemas[entry["db_id"]] = DbSchema.build(tables)
    return schemas
