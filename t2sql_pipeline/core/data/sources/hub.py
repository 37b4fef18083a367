"""Spider and BIRD from a dataset hub through `datasets.load_dataset(id, revision=...)`.

Hub copies hold the questions and gold SQL only: no schemas and no databases. A
hub source therefore also takes the release's tables JSON (Spider format) and a
folder of `<db_id>/<db_id>.sqlite`; examples whose database is absent there are
excluded as `missing_database`, like the local loaders do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t2sql_pipeline.core.data.sources.examples import (
    Example,
    ExcludedExample,
    LoadResult,
    Source,
    SourceFormatError,
    check_and_collect,
    field_of,
    missing_schema,
    read_schemas,
)
from t2sql_pipeline.core.data.sources.spider import with_spider_hardness

DEFAULT_HUB_IDS: dict[Source, str] = {"spider": "xlangai/spider", "bird": "birdsql/bird23-train-filtered"}
# Our split name -> names a hub copy may use for it (xlangai/spider calls dev "validation").
HUB_SPLIT_NAMES = {"train": ("train",), "dev": ("dev", "validation")}
SQL_COLUMN: dict[Source, str] = {"spider": "query", "bird": "SQL"}


def load_hub(
    source: Source,
    hub_id: str | None,
    revision: str | None,
    splits: list[str],
    tables_path: Path,
    databases_path: Path,
    *,
    check_gold: bool = True,
) -> LoadResult:
    """Load `splits` of a hub copy of `source`, with schemas from `tables_path` and databases from `databases_path`."""
    from datasets import load_dataset

    hub_id = hub_id or DEFAULT_HUB_IDS[source]
    unknown = set(splits) - HUB_SPLIT_NAMES.keys()
    if unknown:
        raise SourceFormatError(f"{source} hub splits {sorted(unknown)} unknown; choose from {sorted(HUB_SPLIT_NAMES)}")
    if not tables_path.is_file():
        raise SourceFormatError(
            f"data.{source}.tables_path: {tables_path} not found; the hub copy {hub_id} has no schemas, so point tables_path at the release's tables JSON"
        )
    if not databases_path.is_dir():
        raise SourceFormatError(
            f"data.{source}.databases_path: {databases_path} is not a directory; the hub copy {hub_id} has no databases, "
            f"so point databases_path at a folder of <db_id>/<db_id>.sqlite from the official release"
        )
    schemas = read_schemas(tables_path)
    dataset = load_dataset(hub_id, revision=revision)
    candidates: list[Example] = []
    unschemed: list[ExcludedExample] = []
    for split in splits:
        hub_split = _hub_split(dataset, split, hub_id)
        rows = dataset[hub_split]
        required = ["db_id", "question", SQL_COLUMN[source]]
        if missing := [c for c in required if c not in rows.column_names]:
            raise SourceFormatError(f"{hub_id} split {hub_split!r}: missing columns {missing} (has {rows.column_names})")
        origin = Path(f"{hub_id}@{revision or 'latest'}/{hub_split}")  # names the entry in errors
        for index, record in enumerate(rows):
            if (db_id := field_of(record, "db_id", origin, index)) not in schemas:
                unschemed.append(missing_schema(f"{source}/hub-{hub_split}/{index}", db_id, tables_path))
                continue
            candidates.append(_example(source, split, hub_split, index, record, origin, schemas, databases_path))
    loaded = check_and_collect(candidates, check_gold, excluded=unschemed)
    return with_spider_hardness(loaded) if source == "spider" else loaded


def _hub_split(dataset: Any, split: str, hub_id: str) -> str:
    for name in HUB_SPLIT_NAMES[split]:
        if name in dataset:
            return name
    raise SourceFormatError(f"{hub_id} has no {split!r} split (looked for {list(HUB_SPLIT_NAMES[split])}; it has {list(dataset)})")


def _example(
    source: Source,
    split: str,
    hub_split: str,
    index: int,
    record: dict[str, Any],
    origin: Path,
    schemas: dict[str, str],
    databases_path: Path,
) -> Example:
    db_id = field_of(record, "db_id", origin, index)
    return Example(
        example_id=f"{source}/hub-{hub_split}/{index}",
        source=source,
        split=split,
        db_id=db_id,
        question=field_of(record, "question", origin, index),
        evidence=(record.get("evidence") or "") if source == "bird" else "",
        gold_sql=field_of(record, SQL_COLUMN[source], origin, index),
        difficulty=(record.get("difficulty") or "unknown") if source == "bird" else "",
        db_path=str(databases_path / db_id / f"{db_id}.sqlite"),
        schema=schemas[db_id],
    )
