"""Agreement with the official Spider exact-set match on 18 published prediction files.

The labels in <shared data>/spider-dev/official-exact-match/ were produced by the
official evaluator (see SOURCES.md there); every judgement with a database must agree.
Skips cleanly when ../shared/data (or T2SQL_SHARED_DATA) is absent.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from t2sql_pipeline.cli import main
from t2sql_pipeline.core.scoring.input_files import read_gold_file, read_prediction_file
from t2sql_pipeline.core.sql.exact_eval import score_exact
from t2sql_pipeline.core.sql.exact_match import foreign_key_maps

REPO_ROOT = Path(__file__).resolve().parents[3]
SPIDER_DEV = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "spider-dev"
LABELS = SPIDER_DEV / "official-exact-match"


def _needs_data() -> None:
    if not LABELS.is_dir():
        pytest.skip(f"official exact-match labels not found at {LABELS} (set T2SQL_SHARED_DATA)")


def test_every_official_judgement_is_reproduced() -> None:
    _needs_data()
    gold = read_gold_file(SPIDER_DEV / "dev_gold.sql")
    foreign_keys = foreign_key_maps(SPIDER_DEV / "tables.json")
    files = sorted(LABELS.glob("*.json"))
    assert len(files) == 18
    outcome: Counter[str] = Counter()
    disagreements = []
    for label_file in files:
        labels = json.loads(label_file.read_text())["labels"]
        predictions = read_prediction_file(SPIDER_DEV / "predictions" / f"{label_file.stem}.sql", expected=len(gold))
        for index, (g, prediction, label) in enumerate(zip(gold, predictions, labels, strict=True)):
            db = SPIDER_DEV / "database" / g.db_id / f"{g.db_id}.sqlite"
            if not db.is_file():
                assert label is None, f"{label_file.name}:{index}: a label without a database"
                outcome["no database"] += 1
                continue
            result = score_exact(db, g.sql, prediction, foreign_keys[g.db_id])
            assert result is not None, f"gold {index} unreadable: {g.sql}"
            outcome["agree" if int(result.exact) == label else "disagree"] += 1
            if int(result.exact) != label:
                disagreements.append(f"{label_file.stem}:{index} official {label}: {prediction[:120]}")
    assert disagreements == []
    assert outcome == {"agree": 17_496, "no database": 18 * 62}


def test_cli_report_carries_the_official_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_data()
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path / "state"))
    name = "RESDSQL_NatSQL_3B"
    out = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--gold",
            str(SPIDER_DEV / "dev_gold.sql"),
            "--pred",
            str(SPIDER_DEV / "predictions" / f"{name}.sql"),
            "--db-dir",
            str(SPIDER_DEV / "database"),
            "--tables",
            str(SPIDER_DEV / "tables.json"),
            "--no-text-metrics",
            "--workers",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    labels = json.loads((LABELS / f"{name}.json").read_text())["labels"]
    report = json.loads(out.read_text())
    exact = [q["exact_match"] for q in report["questions"]]
    assert exact == [None if label is None else bool(label) for label in labels]
    summary = report["summary"]
    assert summary["exact_match"] == pytest.approx(sum(filter(None, labels)) / 972)
    assert summary["exact_levels"]["all"]["count"] == 972
    assert sum(summary["exact_levels"][level]["count"] for level in ("easy", "medium", "hard", "extra")) == 972
    printed = capsys.readouterr().out
    assert f"{100 * summary['exact_match']:.1f}%" in printed.split("all", 1)[1].splitlines()[0]
