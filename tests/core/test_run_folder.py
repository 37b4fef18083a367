"""`RunFolder` names the paths a real materialized run has (the session's tiny demo run)."""

from __future__ import annotations

from t2sql_pipeline.core.run_folder import ADAPTER, LOG_HISTORY, LOSS_CURVE, RunFolder
from tests.conftest import RegisteredSqlModel


def test_every_named_path_is_where_the_stages_wrote_it(registered_sql_model: RegisteredSqlModel) -> None:
    folder = RunFolder(registered_sql_model.run_dir)
    for path in (folder.raw_examples("spider"), folder.raw_examples("bird"), folder.sample_examples, folder.report, folder.predictions, folder.registration):
        assert path.is_file(), path
    for path in (folder.demo_base_model, folder.tokenized_splits, folder.sft_adapter):
        assert path.is_dir(), path
    assert (folder.sft_adapter / "adapter_config.json").is_file()
    assert (folder.stage("lora_adapter") / LOG_HISTORY).is_file() and (folder.stage("lora_adapter") / LOSS_CURVE).is_file()
    assert folder.sft_adapter.name == ADAPTER and not folder.rl_adapter.exists()  # the demo trains no GRPO adapter
    assert folder.checkpoints == registered_sql_model.run_dir.parent / "checkpoints"
    assert folder.evaluation("vote") == registered_sql_model.run_dir / "evaluations" / "vote"
