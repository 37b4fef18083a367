"""Where a registered adapter came from: the data it saw and the code that trained it."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Mapping

from t2sql_pipeline.core.state import REPO_ROOT


def rows_fingerprint(rows: Iterable[Mapping[str, object]], fields: tuple[str, ...] = ("example_id", "db_id", "question", "gold_sql")) -> str:
    """A short content hash of example rows, independent of their order."""
    lines = sorted("\x1f".join(str(row.get(name, "")) for name in fields) for row in rows)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def code_version() -> str:
    """The git commit of the checkout (`+dirty` when files differ from it); in a built image without git,
    `T2SQL_CODE_VERSION` (a build argument of deploy/Dockerfile); else `unknown`."""
    if built := os.environ.get("T2SQL_CODE_VERSION", "").strip():
        if built != "unknown":
            return built

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit
