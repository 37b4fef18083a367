"""Provenance: the code version from git in a checkout, from the build argument in an image."""

from __future__ import annotations

import re

import pytest

from t2sql_pipeline.core.provenance import code_version, rows_fingerprint


def test_a_checkout_reports_its_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T2SQL_CODE_VERSION", raising=False)
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", code_version())


def test_an_image_reports_its_build_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_CODE_VERSION", "0123abc")
    assert code_version() == "0123abc"


def test_the_fingerprint_ignores_row_order() -> None:
    rows = [{"example_id": str(i), "db_id": "d", "question": f"q{i}", "gold_sql": "SELECT 1"} for i in range(5)]
    assert rows_fingerprint(rows) == rows_fingerprint(rows[::-1]) != rows_fingerprint(rows[:4])
