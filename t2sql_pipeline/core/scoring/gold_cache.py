"""Gold-query results kept on disk between `t2sql evaluate` calls.

Scoring ten prediction files against one gold file prepares, classifies and
executes the same gold queries ten times unless something remembers them; an
`Evaluator` remembers them for its own life, this cache across processes. One
pickle file ("shard") per kind of result and database file, named by a hash of
what the results depend on: the kind, the database file's resolved path, size
and modification time, the source of the modules that compute the results, the
versions of sqlglot, sqlparse and SQLite, and `CACHE_VERSION`. Inside a shard,
results are keyed by SQL text.

Writers replace a shard atomically (a temporary file, then `os.replace`), so a
reader never sees half a file; two processes writing the same shard at once
lose one side's new entries, which are recomputed next time. The folder is
trusted like the rest of the state folder (it holds pickles).

>>> import tempfile
>>> cache = GoldCache(Path(tempfile.mkdtemp()))
>>> cache.put("info", None, {"SELECT 1": 42}); cache.flush()
>>> GoldCache(cache.folder).get("info", None, ["SELECT 1", "SELECT 2"])
{'SELECT 1': 42}
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

CACHE_VERSION = 1
# Modules whose code decides what is cached: a change in any of them starts a new cache.
_PRODUCERS = (
    "t2sql_pipeline.core.scoring.evaluator_tasks",
    "t2sql_pipeline.core.scoring.file_evaluator",
    "t2sql_pipeline.core.sql.result_match",
    "t2sql_pipeline.core.sql.text_metrics",
    "t2sql_pipeline.core.sql.hardness",
    "t2sql_pipeline.core.sql.execution",
    "t2sql_pipeline.core.sql.official_tokens",
    "t2sql_pipeline.core.sql.official_parse",
    "t2sql_pipeline.core.sql.official_schema",
    "t2sql_pipeline.core.sql.exact_match",
    "t2sql_pipeline.core.sql.sqlite_files",
    "t2sql_pipeline.core.sql.sqlite_schema",
    "t2sql_pipeline.core.sql.ves",
    "t2sql_pipeline.core.sql.worker_pool",
)


def default_cache_dir() -> Path:
    """`<state folder>/cache/gold` (T2SQL_HOME moves the state folder)."""
    from t2sql_pipeline.core.state import state_dir

    return state_dir() / "cache" / "gold"


class GoldCache:
    """Results of gold queries by kind, database file and SQL, loaded and written per shard."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._shards: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()

    def get(self, kind: str, db_path: Path | None, sqls: Iterable[str]) -> dict[str, Any]:
        """The cached results among `sqls` for this kind and database file (None: no file)."""
        shard = self._shard(_shard_name(kind, db_path))
        return {sql: shard[sql] for sql in sqls if sql in shard}

    def put(self, kind: str, db_path: Path | None, results: Mapping[str, Any]) -> None:
        """Remember `results` (SQL -> result); written by `flush`."""
        if results:
            name = _shard_name(kind, db_path)
            self._shard(name).update(results)
            self._dirty.add(name)

    def flush(self) -> None:
        """Write the shards that gained entries (atomically; a failed write only loses the cache)."""
        if not self._dirty:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            self._dirty.clear()  # an unwritable folder: no cache, the results are still right
            return
        for name in sorted(self._dirty):
            try:
                fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
            except OSError:
                continue
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(self._shards[name], handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.folder / name)
            except OSError:
                Path(tmp).unlink(missing_ok=True)
        self._dirty.clear()

    def _shard(self, name: str) -> dict[str, Any]:
        if name not in self._shards:
            self._shards[name] = _read_shard(self.folder / name)
        return self._shards[name]


def _read_shard(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return {}  # unreadable or from other code: a cache miss, rewritten on the next flush
    return data if isinstance(data, dict) else {}


def _shard_name(kind: str, db_path: Path | None) -> str:
    identity = "-"
    if db_path is not None:
        stat = db_path.stat()
        identity = f"{db_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(f"{_code_identity()}|{kind}|{identity}".encode()).hexdigest()[:24]
    return f"{kind.split('|')[0]}-{digest}.pkl"


@functools.lru_cache(maxsize=1)
def _code_identity() -> str:
    """A digest of the producing modules' source and of the libraries' versions."""
    digest = hashlib.sha256(f"{CACHE_VERSION}|sqlite {sqlite3.sqlite_version}".encode())
    for package in ("sqlglot", "sqlparse"):
        try:
            digest.update(f"|{package} {version(package)}".encode())
        except PackageNotFoundError:
            digest.update(f"|{package} ?".encode())
    for module in _PRODUCERS:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()
