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

from t2sql_pipeline.core.sql.sqlite_schema import read_sqlite_schema


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
        return cls.build({table.name.lower(): [c.name for c in table.columns] for table in read_sqlite_schema(db_path)})
