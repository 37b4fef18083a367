"""Data sources: Spider and BIRD (local release folders, a dataset hub, or the seeded synthetic benchmark)."""

from __future__ import annotations

from pathlib import Path

from t2sql_pipeline.core.data.sources.bird import load_bird_local
from t2sql_pipeline.core.data.sources.examples import Example, LoadResult, Source, SourceFormatError
from t2sql_pipeline.core.data.sources.hub import load_hub
from t2sql_pipeline.core.data.sources.spider import load_spider_local
from t2sql_pipeline.core.data.sources.synthetic import write_synthetic_bird, write_synthetic_spider
from t2sql_pipeline.core.settings import DataSettings, SourceSettings, default_config_dir

__all__ = ["Example", "LoadResult", "SourceFormatError", "load_source", "resolve_data_path"]


def resolve_data_path(raw: str) -> Path:
    """A configured data path; relative ones resolve against the checkout root (the folder holding configs/),
    so an experiment file means the same folder whatever the working directory."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (default_config_dir().resolve().parent / path)


def load_source(source: Source, data: DataSettings, work_dir: Path, seed: int) -> LoadResult:
    """Load one source as configured; a synthetic source is written under `work_dir` first."""
    settings: SourceSettings = getattr(data, source)
    if settings.kind == "none":
        return LoadResult([])
    if settings.kind == "hub":
        assert settings.tables_path and settings.databases_path  # enforced by SourceSettings
        return load_hub(
            source,
            settings.hub_id,
            settings.hub_revision,
            list(settings.splits),
            resolve_data_path(settings.tables_path),
            resolve_data_path(settings.databases_path),
        )
    if settings.kind == "synthetic":
        root = work_dir / f"synthetic_{source}"
        synthetic = data.synthetic
        if source == "spider":
            write_synthetic_spider(root, synthetic.databases, synthetic.rows_per_table, synthetic.spider_questions_per_database, seed)
        else:
            write_synthetic_bird(root, synthetic.databases, synthetic.rows_per_table, synthetic.bird_questions_per_database, seed)
        return _loader(source)(root, list(settings.splits))
    parts = []
    split_paths = settings.split_paths or {}
    for split in settings.splits:  # one split at a time, so an error names the setting that points at the wrong folder
        key = f"data.{source}.split_paths.{split}" if split in split_paths else f"data.{source}.path"
        root = resolve_data_path(split_paths.get(split) or settings.path or "")
        if not root.is_dir():
            raise SourceFormatError(f"{key}: {root} is not a directory")
        try:
            parts.append(_loader(source)(root, [split]))
        except SourceFormatError as error:
            raise SourceFormatError(f"{key}: {error}") from None
    return LoadResult([e for part in parts for e in part.examples], [x for part in parts for x in part.excluded])


def _loader(source: Source):
    return load_spider_local if source == "spider" else load_bird_local
