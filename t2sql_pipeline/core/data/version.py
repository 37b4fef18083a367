"""The raw data's version: one string that changes exactly when the configured sources change.

A local folder is fingerprinted by its files: JSON files (questions, schemas) by a content
hash, every other file (SQLite databases, archives; BIRD's are ~30 GB) by size and
modification time, which a rewrite changes without reading gigabytes on every sensor tick.
A hub source is its dataset id and revision (an unpinned revision is marked `latest`: new
uploads cannot be seen offline) plus its local tables file and databases folder. A synthetic
source is its settings and the experiment seed, which fully determine the data.

>>> from t2sql_pipeline.core.settings import load_settings
>>> len(raw_data_version(load_settings("demo")))
16
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from t2sql_pipeline.core.data.sources import resolve_data_path
from t2sql_pipeline.core.data.sources.hub import DEFAULT_HUB_IDS
from t2sql_pipeline.core.settings import PipelineSettings, SourceSettings

_CHUNK = 1 << 20


def raw_data_version(settings: PipelineSettings) -> str:
    """A 16-hex-digit version of both sources' data as configured (same data, same version)."""
    description = {name: source_fingerprint(name, settings) for name in ("spider", "bird")}
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def source_fingerprint(name: str, settings: PipelineSettings) -> dict[str, Any]:
    """What identifies one source's data; raises FileNotFoundError for a missing local path."""
    source: SourceSettings = getattr(settings.data, name)
    splits = sorted(source.splits)
    if source.kind == "none":
        return {"kind": "none"}
    if source.kind == "synthetic":
        return {"kind": "synthetic", "splits": splits, "seed": settings.experiment.seed, "synthetic": settings.data.synthetic.model_dump()}
    if source.kind == "hub":
        assert source.tables_path and source.databases_path  # enforced by SourceSettings
        return {
            "kind": "hub",
            "splits": splits,
            "hub_id": source.hub_id or DEFAULT_HUB_IDS[name],  # type: ignore[index]
            "revision": source.hub_revision or "latest",
            "tables": folder_fingerprint(resolve_data_path(source.tables_path)),
            "databases": folder_fingerprint(resolve_data_path(source.databases_path)),
        }
    folders = source.folders()
    if list(folders) == [source.path]:  # one folder: the fingerprint recorded before split_paths existed
        return {"kind": "local", "splits": splits, "files": folder_fingerprint(resolve_data_path(source.path))}
    return {"kind": "local", "splits": splits, "files": {",".join(s): folder_fingerprint(resolve_data_path(f)) for f, s in folders.items()}}


def folder_fingerprint(path: Path) -> str:
    """A hash over every file under `path` (or the file itself): relative path, then the content
    hash for `.json` files, size and mtime for the rest. Hidden files and folders are skipped."""
    if not path.exists():
        raise FileNotFoundError(f"data path {path} does not exist")
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(_visible_files(path))
    for file in files:
        relative = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(relative.encode() + b"\0")
        if file.suffix.lower() == ".json":
            digest.update(_content_hash(file).encode())
        else:
            stat = file.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _visible_files(root: Path) -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if not s.startswith(".")]
        found.extend(Path(folder) / n for n in names if not n.startswith("."))
    return found


def _content_hash(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
