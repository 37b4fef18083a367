"""`t2sql evaluate`: options, printed table, JSON report, errors for bad input."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from t2sql_pipeline.commands import evaluate


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="t2sql")
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", *argv])
    return int(args.func(args))


@pytest.fixture(autouse=True)
def _own_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path / "state"))  # the gold cache lands here, not in the checkout


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "db" / "shop").mkdir(parents=True)
    conn = sqlite3.connect(tmp_path / "db" / "shop" / "shop.sqlite")
    conn.executescript("CREATE TABLE item(id INTEGER, name TEXT, price REAL);INSERT INTO item VALUES (1, 'pen', 1.5), (2, 'ink', 9.0), (3, 'tea', 4.0);")
    conn.commit()
    conn.close()
    gold = tmp_path / "gold.sql"
    gold.write_text(
        "SELECT name FROM item WHERE price > 3\tshop\n"
        "SELECT count(*) FROM item\tshop\n"
        "SELECT name FROM item ORDER BY price\tshop\n"
        "SELECT name FROM item\tghost\n"
    )
    pred = tmp_path / "pred.sql"
    pred.write_text(
        "SELECT name FROM item WHERE price > 3;\tshop\nSELECT count(*) FROM items\nSELECT name FROM item ORDER BY price DESC\nSELECT name FROM item\n"
    )
    return {"gold": gold, "pred": pred, "db": tmp_path / "db", "out": tmp_path / "out" / "report.json"}


def test_evaluate_prints_table_and_writes_report(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db"]), "--workers", "0", "--out", str(files["out"])])
    assert code == 0
    printed = capsys.readouterr().out
    assert "spider execution evaluation" in printed and "33.3%" in printed and "missing database 1" in printed
    report = json.loads(files["out"].read_text())
    assert report["summary"]["n_scored"] == 3 and report["summary"]["errors"]["runtime"] == 1
    assert [q["exec_match"] for q in report["questions"]] == [True, False, False, None]
    assert report["questions"][1]["error_kind"] == "runtime" and "items" in report["questions"][1]["error"]
    assert report["questions"][3]["error_kind"] == "missing_db"
    assert report["questions"][0]["hardness"] == "easy"


def test_line_count_mismatch_names_both_counts(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["pred"].write_text("SELECT 1\nSELECT 2\n")
    code = run_cli(["--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db"])])
    assert code == 2
    assert "2 prediction lines but the gold file has 4" in capsys.readouterr().err


def test_bad_gold_line_and_bad_options_are_reported(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["gold"].write_text("SELECT 1\tshop\nSELECT 2\n")
    files["pred"].write_text("SELECT 1\nSELECT 2\n")
    base = ["--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db"])]
    assert run_cli(base) == 2
    assert "gold.sql:2:" in capsys.readouterr().err
    assert run_cli([*base, "--timeout", "0", "--ves-iterations", "3"]) == 2
    err = capsys.readouterr().err
    assert "--timeout must be positive" in err and "need --semantics bird" in err


def test_bird_semantics_with_difficulty_file(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev_json = tmp_path / "dev.json"
    dev_json.write_text(json.dumps([{"difficulty": d} for d in ("simple", "simple", "moderate", "challenging")]))
    code = run_cli(
        [
            "--gold",
            str(files["gold"]),
            "--pred",
            str(files["pred"]),
            "--db-dir",
            str(files["db"]),
            "--semantics",
            "bird",
            "--difficulty-from",
            str(dev_json),
            "--workers",
            "0",
            "--no-text-metrics",
            "--out",
            str(files["out"]),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "bird execution evaluation" in printed and "moderate" in printed
    report = json.loads(files["out"].read_text())
    # BIRD ignores row order: the DESC prediction matches
    assert [q["exec_match"] for q in report["questions"]] == [True, False, True, None]
    assert report["summary"]["levels"]["simple"] == {"count": 2, "execution_accuracy": 0.5}
    assert report["questions"][0]["rouge_l"] is None  # text metrics off
    # Valid SQL comes from SQLite compiling the prediction, so it is there with text metrics off; None without a database.
    assert [q["valid_sql"] for q in report["questions"]] == [True, False, True, None]  # 2: there is no table `items`


def test_help_documents_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli(["--help"])
    text = capsys.readouterr().out
    for option in ("--gold", "--pred", "--db-dir", "--tables", "--semantics", "--strict", "--difficulty-from", "--timeout", "--workers", "--out"):
        assert option in text


def test_the_t2sql_entry_point_runs_evaluate(files: dict[str, Path]) -> None:
    from t2sql_pipeline.cli import main

    argv = ["evaluate", "--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db"]), "--workers", "0", "--out", str(files["out"])]
    assert main(argv) == 0
    assert json.loads(files["out"].read_text())["summary"]["n_questions"] == 4


def test_an_empty_gold_file_is_an_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["gold"].write_text("")
    files["pred"].write_text("")
    assert run_cli(["--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db"])]) == 2
    assert "gold.sql: no questions (the gold file is empty)" in capsys.readouterr().err


def test_a_non_utf8_byte_is_named_by_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["pred"].write_bytes(b"SELECT 1\nSELECT 2\nSELECT '\xff'\nSELECT 4\n")
    assert run_cli(["--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db"])]) == 2
    assert "pred.sql:3: not UTF-8 text (byte 0xff)" in capsys.readouterr().err
