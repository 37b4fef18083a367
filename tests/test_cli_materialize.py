"""`t2sql materialize`: expected errors are one line naming the file, key or reason (--debug shows the traceback)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from t2sql_pipeline.cli import main
from tests.conftest import TINY_PIPELINE


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["materialize", *argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.max_stepz=5", "override 'training.max_stepz=5': unknown key 'training.max_stepz'"),
        ("training.learning_rate=-1", "key 'training.learning_rate': Input should be greater than 0"),
        ("model.source=gguf", "'gguf_file'"),
        ("lora.target_modules=q_proj", "key 'lora.target_modules': Input should be a valid list (got 'q_proj') or Input should be 'all-linear'"),
    ],
)
def test_a_bad_setting_is_one_line(override: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["--set", override], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("t2sql materialize: error: ") and expected in err[0]


def test_no_data_at_all_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    code, err = run(["--set", "data.spider.kind=none", "--set", "data.bird.kind=none"], capsys)
    assert code == 2
    assert err == ["t2sql materialize: error: no examples to sample: data.spider.kind is none; data.bird.kind is none"]


def test_every_question_excluded_names_the_reason_and_the_list(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    spider = tmp_path / "spider"
    spider.mkdir()
    (spider / "tables.json").write_text(
        '[{"db_id": "gone", "table_names_original": ["t"], "column_names_original": [[-1, "*"], [0, "a"]],'
        ' "column_types": ["text", "number"], "primary_keys": [], "foreign_keys": []}]'
    )
    (spider / "dev.json").write_text('[{"db_id": "gone", "question": "How many?", "query": "SELECT count(*) FROM t"}]')
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path / "home"))
    code, err = run(["--set", f"data.spider={{kind: local, path: {spider}, splits: [dev]}}", "--set", "data.bird.kind=none"], capsys)
    assert code == 2 and len(err) == 1
    assert "spider (local): every question excluded (1 missing_database; listed in " in err[0] and "excluded.json" in err[0]


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from t2sql_pipeline.core.settings import SettingsError

    with pytest.raises(SettingsError):
        main(["materialize", "--debug", "--set", "training.max_stepz=5"])


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_training_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(terminal: bool) -> None:
    from t2sql_pipeline.commands.materialize import ProgressPrinter

    stream = FakeTerminal() if terminal else io.StringIO()
    printer = ProgressPrinter(stream)
    for message in ("train: 10 examples", "step 1/3 (33%): loss 2.000", "step 2/3 (67%): loss 1.000, 1 min left", "step 2: validation loss 1.5"):
        printer(message)
    if terminal:
        assert stream.getvalue() == (
            "[t2sql] train: 10 examples\n\r\x1b[K[t2sql] step 1/3 (33%): loss 2.000\r\x1b[K[t2sql] step 2/3 (67%): loss 1.000, 1 min left"
            "\n[t2sql] step 2: validation loss 1.5\n"
        )
    else:
        assert stream.getvalue().splitlines()[1:3] == ["[t2sql] step 1/3 (33%): loss 2.000", "[t2sql] step 2/3 (67%): loss 1.000, 1 min left"]


def test_a_busy_checkpoint_folder_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from t2sql_pipeline.commands import materialize as command
    from t2sql_pipeline.core.training.checkpoint_lock import CheckpointBusyError

    def busy(_args: object) -> int:
        raise CheckpointBusyError("/x/checkpoints/abc is being trained into by process 7 on host since now; wait for it to finish or stop it")

    monkeypatch.setattr(command, "materialize", busy)
    code, err = run([], capsys)
    assert code == 2 and err == [
        "t2sql materialize: error: /x/checkpoints/abc is being trained into by process 7 on host since now; wait for it to finish or stop it"
    ]


def test_select_names_assets_dagster_style() -> None:
    from t2sql_pipeline.core.stages import SelectionError, select_assets

    assert select_assets("+stratified_sample") == ["raw_spider", "raw_bird", "stratified_sample"]
    assert select_assets("raw_bird, raw_spider") == ["raw_spider", "raw_bird"]
    with pytest.raises(SelectionError, match=r"--select: tokenized_splits needs stratified_sample, base_model from the same run; select \+tokenized_splits"):
        select_assets("tokenized_splits")
    with pytest.raises(SelectionError, match=r"--select '\+tokenized': no such asset; the assets are raw_spider, raw_bird"):
        select_assets("+tokenized")


def test_a_data_only_run_is_one_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("T2SQL_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    overrides = [arg for o in TINY_PIPELINE for arg in ("--set", o)]
    assert main(["materialize", "--experiment", "demo", "--select", "+tokenized_splits", *overrides]) == 0
    out = capsys.readouterr().out
    assert "materialized raw_spider, raw_bird, stratified_sample, base_model, tokenized_splits in " in out
    run_dir = Path(out.rsplit(" in ", 1)[1].strip())
    assert (run_dir / "tokenized_splits").is_dir() and not (run_dir / "lora_adapter").exists()
    assert main(["materialize", "--experiment", "demo", "--select", "lora_adapter"]) == 2
    assert "t2sql materialize: error: --select: lora_adapter needs tokenized_splits, base_model" in capsys.readouterr().err
