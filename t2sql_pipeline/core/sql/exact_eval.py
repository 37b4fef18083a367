"""Official exact match for the file evaluator: schemas and gold readings cached per process.

The official evaluator reads table and column names from the database file and
foreign keys from tables.json. Without a tables.json, `foreign_keys_from_sqlite`
builds the same kind of map from the file's declared foreign keys (SQLite
``PRAGMA foreign_key_list``), in the file's table and column order.
"""

from __future__ import annotations

from pathlib import Path

from t2sql_pipeline.core.sql.exact_match import ExactMatch, ForeignKeyMap, exact_match, foreign_key_map, normalize
from t2sql_pipeline.core.sql.official_parse import OfficialParseError, OfficialSql, read_sql
from t2sql_pipeline.core.sql.official_schema import OfficialSchema
from t2sql_pipeline.core.sql.sqlite_schema import read_sqlite_schema

_SCHEMAS: dict[Path, OfficialSchema] = {}
_GOLD: dict[tuple[Path, str], OfficialSql | None] = {}  # None: the official parser cannot read the gold
_LABELS: dict[tuple[Path, OfficialSql, tuple[tuple[str, str], ...]], OfficialSql] = {}  # normalized gold
_CACHE_LIMIT = 50_000


def official_schema(db_path: Path) -> OfficialSchema:
    """The official schema of a database file (read once per process)."""
    if db_path not in _SCHEMAS:
        _SCHEMAS[db_path] = OfficialSchema.from_sqlite(db_path)
    return _SCHEMAS[db_path]


def read_gold(db_path: Path, gold_sql: str) -> OfficialSql | None:
    """The official reading of a gold query (once per process); None where the official parser fails."""
    key = (db_path, gold_sql)
    if key not in _GOLD:
        if len(_GOLD) > _CACHE_LIMIT:
            _GOLD.clear()
        try:
            _GOLD[key] = read_sql(gold_sql, official_schema(db_path))
        except OfficialParseError:
            _GOLD[key] = None  # the official script would stop here; we report no judgement
    return _GOLD[key]


def score_exact(db_path: Path, gold_sql: str | OfficialSql | None, prediction: str, fk_map: ForeignKeyMap) -> ExactMatch | None:
    """Official exact match of one prediction; None when the official parser cannot read the gold.

    `gold_sql` may be the gold already read (`read_gold`; None: unreadable).
    """
    gold = read_gold(db_path, gold_sql) if isinstance(gold_sql, str) else gold_sql
    if gold is None:
        return None
    schema = official_schema(db_path)
    key = (db_path, gold, tuple(sorted(fk_map.items())))
    if key not in _LABELS:
        if len(_LABELS) > _CACHE_LIMIT:
            _LABELS.clear()
        _LABELS[key] = normalize(gold, schema, fk_map)
    return exact_match(gold, prediction, schema, fk_map, label=_LABELS[key])


def foreign_keys_from_sqlite(db_path: Path) -> dict[str, str]:
    """The official foreign-key map built from the foreign keys a database file declares."""
    schema = read_sqlite_schema(db_path)
    tables = [table.name for table in schema]
    columns: list[tuple[int, str]] = [(-1, "*"), *((t, c.name) for t, table in enumerate(schema) for c in table.columns)]
    keys = [(t, key.column, key.parent_table, key.parent_column) for t, table in enumerate(schema) for key in table.foreign_keys]
    # The official reader's choice for `REFERENCES t` without a column: t's first key column in column order.
    first_key = {table.name.lower(): next((c.name for c in table.columns if c.primary_key_position), None) for table in schema}
    index = {(tables[t].lower(), name.lower()): i for i, (t, name) in enumerate(columns) if t >= 0}
    lowered = [t.lower() for t in tables]
    pairs = []
    for t, source, target_table, target in keys:
        target_table = target_table.lower()
        if target is None and target_table in lowered:  # REFERENCES t without a column: its primary key
            target = first_key[target_table]
        a, b = index.get((tables[t].lower(), source.lower())), index.get((target_table, str(target).lower()))
        if a is not None and b is not None:
            pairs.append((a, b))
    return foreign_key_map({"table_names_original": tables, "column_names_original": columns, "foreign_keys": pairs})
