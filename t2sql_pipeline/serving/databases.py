"""The database folder a server answers for: `db_id` -> SQLite file, never outside the folder.

Spider/BIRD layout `DIR/<db_id>/<db_id>.sqlite`, or a flat `DIR/<db_id>.sqlite`.
A `db_id` is a plain name; `../x`, absolute paths and symlinks that leave the folder are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

DB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SUFFIX = ".sqlite"


class DatabaseRefused(ValueError):
    """A db_id that is not a plain name or resolves outside the database folder."""


class DatabaseNotFound(LookupError):
    """A well-formed db_id with no database file in the folder."""


class DatabaseFolder:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise NotADirectoryError(f"database folder not found: {root}")
        self.root = root.resolve()

    def path_of(self, db_id: str) -> Path:
        """The file for `db_id`, resolved (symlinks followed) and checked to lie inside the folder."""
        if not DB_ID.match(db_id) or ".." in db_id:
            raise DatabaseRefused(f"db_id {db_id!r} is not a plain database name (letters, digits, '_', '-', '.')")
        for candidate in (self.root / db_id / f"{db_id}{SUFFIX}", self.root / f"{db_id}{SUFFIX}"):
            if not candidate.exists():
                continue
            resolved = candidate.resolve()
            if not resolved.is_relative_to(self.root):
                raise DatabaseRefused(f"db_id {db_id!r} resolves outside the database folder")
            if resolved.is_file():
                return resolved
        raise DatabaseNotFound(f"no database {db_id!r} in the database folder")

    def ids(self) -> list[str]:
        """Every db_id that `path_of` accepts, sorted."""
        names = {p.name for p in self.root.iterdir() if p.is_dir()} | {p.name[: -len(SUFFIX)] for p in self.root.glob(f"*{SUFFIX}")}
        found = []
        for name in sorted(names):
            try:
                self.path_of(name)
            except (DatabaseRefused, DatabaseNotFound):
                continue
            found.append(name)
        return found
