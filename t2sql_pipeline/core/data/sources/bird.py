"""BIRD from a local directory in the official release layout.

`<split>/<split>.json` (with `evidence`, `SQL`, `difficulty`), `<split>/<split>_tables.json`,
and `<split>/<split>_databases/<db_id>/<db_id>.sqlite`, for split in {train, dev}. The
files of a split may also sit directly in `root` (as in the unpacked dev release).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t2sql_pipeline.core.data.sources.examples import (
    Example,
    ExcludedExample,
    LoadResult,
    SourceFormatError,
    check_and_collect,
    field_of,
    missing_schema,
    read_json_list,
    read_schemas,
)

BIRD_SPLITS = ("train", "dev")


def bird_split_folder(root: Path, split: str) -> Path:
    nested = root / split
    if (nested / f"{split}.json").is_file():
        return nested
    if (root / f"{split}.json").is_file():
        return root
    raise SourceFormatError(f"BIRD split {split!r}: neither {nested / f'{split}.json'} nor {root / f'{split}.json'} exists")


def bird_evidence(record: dict[str, Any], path: Path, index: int) -> str:
    """Every BIRD question has an `evidence` field (empty when there is no hint); a record without one is not BIRD's."""
    if not isinstance(record, dict) or "evidence" not in record:
        raise SourceFormatError(f"{path}: entry {index}: missing field 'evidence' (BIRD questions carry one, empty when there is no hint)")
    return record["evidence"] or ""


def bird_difficulty(record: dict[str, Any], split: str, path: Path, index: int) -> str:
    """BIRD dev labels every question simple/moderate/challenging; BIRD train has no labels ("unknown")."""
    difficulty = record.get("difficulty")
    if difficulty is None and split == "dev":
        raise SourceFormatError(f"{path}: entry {index}: missing field 'difficulty' (BIRD dev labels every question simple, moderate or challenging)")
    return difficulty or "unknown"


def load_bird_local(root: Path, splits: list[str], *, check_gold: bool = True, require_database: bool = True) -> LoadResult:
    """Without the databases every question is excluded as `missing_database` (listed, no crash);
    `require_database=False` loads the questions anyway, for sampling studies only."""
    unknown = set(splits) - set(BIRD_SPLITS)
    if unknown:
        raise SourceFormatError(f"BIRD splits {sorted(unknown)} unknown; choose from {list(BIRD_SPLITS)}")
    candidates: list[Example] = []
    unschemed: list[ExcludedExample] = []
    for split in splits:
        folder = bird_split_folder(root, split)
        questions_path = folder / f"{split}.json"
        tables_path = folder / f"{split}_tables.json"
        schemas = read_schemas(tables_path)
        for index, record in enumerate(read_json_list(questions_path)):
            db_id = field_of(record, "db_id", questions_path, index)
            if db_id not in schemas:
                unschemed.append(missing_schema(f"bird/{split}/{index}", db_id, tables_path))
                continue
            candidates.append(
                Example(
                    example_id=f"bird/{split}/{index}",
                    source="bird",
                    split=split,
                    db_id=db_id,
                    question=field_of(record, "question", questions_path, index),
                    evidence=bird_evidence(record, questions_path, index),
                    gold_sql=field_of(record, "SQL", questions_path, index),
                    difficulty=bird_difficulty(record, split, questions_path, index),
                    db_path=str(folder / f"{split}_databases" / db_id / f"{db_id}.sqlite"),
                    schema=schemas[db_id],
                )
            )
    return check_and_collect(candidates, check_gold, require_database=require_database, excluded=unschemed)
