"""Examples on disk as Parquet through `datasets` (one file per stage and split)."""

from __future__ import annotations

from pathlib import Path

from t2sql_pipeline.core.data.sources.examples import Example, to_records


def write_examples(examples: list[Example], path: Path) -> Path:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    records = to_records(examples)
    dataset = Dataset.from_list(records) if records else Dataset.from_dict({k: [] for k in Example.__dataclass_fields__})
    tmp = path.with_suffix(".tmp.parquet")
    dataset.to_parquet(str(tmp))
    tmp.replace(path)  # a reader never sees a half-written file
    return path


def read_examples(path: Path) -> list[Example]:
    # pyarrow directly: `datasets` refuses a Parquet file with no rows (a source configured as `none`)
    # and would copy every file into its cache.
    import pyarrow.parquet as pq

    return [Example(**row) for row in pq.read_table(str(path)).to_pylist()]
