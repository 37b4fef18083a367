"""Spider from a local directory in the official release layout.

`train_spider.json` + `train_others.json` (split "train"), `dev.json` (split "dev"),
`tables.json`, and `database/<db_id>/<db_id>.sqlite`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
from t2sql_pipeline.core.sql.hardness import HardnessError, spider_hardness

SPLIT_FILES: dict[str, tuple[tuple[str, bool], ...]] = {
    # split -> (file, required)
    "train": (("train_spider.json", True), ("train_others.json", False)),
    "dev": (("dev.json", True),),
}


def load_spider_local(root: Path, splits: list[str], *, check_gold: bool = True) -> LoadResult:
    """Load the requested splits; examples without a database or with failing gold are excluded and listed."""
    unknown = set(splits) - SPLIT_FILES.keys()
    if unknown:
        raise SourceFormatError(f"Spider splits {sorted(unknown)} unknown; choose from {sorted(SPLIT_FILES)}")
    schemas = read_schemas(root / "tables.json")
    candidates: list[Example] = []
    unschemed: list[ExcludedExample] = []
    for split in splits:
        for filename, required in SPLIT_FILES[split]:
            path = root / filename
            if not path.is_file():
                if required:
                    raise SourceFormatError(f"{root} has no Spider split {split!r}: {filename} not found")
                continue
            for index, record in enumerate(read_json_list(path)):
                db_id = field_of(record, "db_id", path, index)
                if db_id not in schemas:
                    unschemed.append(missing_schema(f"spider/{path.stem}/{index}", db_id, root / "tables.json"))
                    continue
                sql = field_of(record, "query", path, index)
                candidates.append(
                    Example(
                        example_id=f"spider/{path.stem}/{index}",
                        source="spider",
                        split=split,
                        db_id=db_id,
                        question=field_of(record, "question", path, index),
                        evidence="",
                        gold_sql=sql,
                        difficulty="",  # classified below, once the gold SQL is known to run
                        db_path=str(root / "database" / db_id / f"{db_id}.sqlite"),
                        schema=schemas[db_id],
                    )
                )
    loaded = check_and_collect(candidates, check_gold, excluded=unschemed)
    return with_spider_hardness(loaded)


def with_spider_hardness(loaded: LoadResult) -> LoadResult:
    """Label kept examples with the official Spider hardness (only once their gold SQL is known to run)."""
    return LoadResult([replace(e, difficulty=_hardness(e.gold_sql)) for e in loaded.examples], loaded.excluded)


def _hardness(sql: str) -> str:
    # SQL that SQLite runs but that is not one parseable query (rare) keeps its own label.
    try:
        return spider_hardness(sql)
    except HardnessError:
        return "unclassified"
