"""One read-only connection and one identifier quoting for every caller."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.core.sql.exact_eval import foreign_keys_from_sqlite
from t2sql_pipeline.core.sql.execution import read_schema
from t2sql_pipeline.core.sql.official_schema import OfficialSchema
from t2sql_pipeline.core.sql.sqlite_files import connect_read_only, quote_identifier, read_only_connection

ODD_TABLE = quote_identifier('odd "name"')


@pytest.fixture
def odd_database(tmp_path: Path) -> Path:
    folder = tmp_path / "a?b#c%20d"  # URI syntax in a folder name: opened unquoted, `?b#c` would be read as a query
    folder.mkdir()
    path = folder / "db.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE "odd ""name""" ("my col" INTEGER, "order" TEXT)')
        conn.execute('INSERT INTO "odd ""name""" VALUES (1, \'x\')')
    conn.close()
    return path


def test_a_path_with_uri_syntax_opens_the_right_file_read_only(odd_database: Path) -> None:
    with read_only_connection(odd_database) as conn:
        assert conn.execute(f"SELECT * FROM {ODD_TABLE}").fetchall() == [(1, "x")]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute(f"INSERT INTO {ODD_TABLE} VALUES (2, 'y')")


def test_the_block_closes_its_connection(odd_database: Path) -> None:
    with read_only_connection(odd_database) as conn:
        pass
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        connect_read_only(tmp_path / "absent.sqlite").execute("SELECT 1")
    assert not (tmp_path / "absent.sqlite").exists()


def test_callers_read_odd_names_in_odd_folders_through_it(odd_database: Path) -> None:
    assert OfficialSchema.from_sqlite(odd_database).tables == {'odd "name"': ("my col", "order")}
    assert foreign_keys_from_sqlite(odd_database) == {}
    assert read_schema(odd_database) == {'odd "name"': ["my col", "order"]}
