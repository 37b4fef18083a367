"""A database schema as the official Spider evaluator sees it: lower-cased names and its id map.

The official evaluator (test-suite-sql-eval ``process_sql.get_schema``) reads table
and column names from the database file itself, not from tables.json, and names
columns ``"__table.column__"`` and tables ``"__table__"``.

>>> OfficialSchema.build({"Singer": ["Name"]}).id_map["singer.name"]
'__singer.name__'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from t2sql_pipeline.core.sql.sqlite_files import quote_identifier, read_only_connection


@dataclass(frozen=True)
class OfficialSchema:
    """Lower-cased table -> column names of one database, and the official id map."""

    tables: Mapping[str, tuple[str, ...]]
    id_map: Mapping[str, str] = field(compare=False)

    @classmethod
    def build(cls, tables: Mapping[str, Sequence[str]]) -> OfficialSchema:
        lowered = {t.lower(): tuple(c.lower() for c in cols) for t, cols in tables.items()}
        id_map = {"*": "__all__"}
        id_map.update({f"{t}.{c}": f"__{t}.{c}__" for t, cols in lowered.items() for c in cols})
        id_map.update({t: f"__{t}__" for t in lowered})
        return cls(lowered, id_map)

    @classmethod
    def from_sqlite(cls, db_path: Path) -> OfficialSchema:
        """Tables and columns as the official evaluator reads them from the database file."""
        with read_only_connection(db_path) as conn:
            names = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            tables = {name.lower(): [str(col[1]) for col in conn.execute(f"PRAGMA table_info({quote_identifier(name)})")] for name in names}
        return cls.build(tables)
