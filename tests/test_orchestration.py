import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)

from t2sql_pipeline.orchestration import champion_promoted, raw_data_changed
from t2sql_pipeline.resources.settings import PipelineSettingsResource

ROOT = Path(__file__).resolve().parents[1]


def test_dagster_yaml_limits_the_pool_to_one_and_monitors_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:  # validates the file against the instance schema
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled
    assert yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]["pools"]["default_limit"] == 1


def _spider_source(tmp_path: Path) -> PipelineSettingsResource:
    root = tmp_path / "spider"
    (root / "database" / "shop").mkdir(parents=True)
    (root / "train_spider.json").write_text("[]")
    (root / "database" / "shop" / "shop.sqlite").write_bytes(b"db")
    return PipelineSettingsResource(experiment="demo", overrides=["data.spider.kind=local", f"data.spider.path={root}", "data.bird.kind=none"])


def test_data_sensor_requests_a_run_first_then_only_when_the_data_changes(tmp_path: Path) -> None:
    settings = _spider_source(tmp_path)
    first = raw_data_changed(build_sensor_context(resources={"settings": settings}))
    assert isinstance(first, SensorResult) and len(first.run_requests) == 1
    version = first.cursor
    assert first.run_requests[0].run_key == version

    unchanged = raw_data_changed(build_sensor_context(cursor=version, resources={"settings": settings}))
    assert isinstance(unchanged, SkipReason) and version in str(unchanged.skip_message)

    (tmp_path / "spider" / "train_spider.json").write_text('[{"db_id": "shop"}]')
    changed = raw_data_changed(build_sensor_context(cursor=version, resources={"settings": settings}))
    assert isinstance(changed, SensorResult) and changed.cursor != version
    assert changed.run_requests[0].run_key == changed.cursor


def _evaluate_champion_sensor(metadata: dict[str, object]):
    with instance_for_test() as instance:
        instance.report_runless_asset_event(AssetMaterialization(asset_key="registered_adapter", metadata=metadata))
        return champion_promoted.evaluate_tick(build_sensor_context(instance=instance))


def test_champion_sensor_logs_a_promotion(capfd: pytest.CaptureFixture[str]) -> None:
    result = _evaluate_champion_sensor({"champion_promoted": True, "champion_version": "3", "promotion_reason": "EX 0.61 > 0.55"})
    assert not result.run_requests and "promoted no champion" not in (result.skip_message or "")
    logged = capfd.readouterr().err  # context.log writes to the console (and the tick's log in the UI)
    assert "New champion: version 3" in logged and "EX 0.61 > 0.55" in logged


def test_champion_sensor_skips_with_the_reason_when_nothing_was_promoted() -> None:
    result = _evaluate_champion_sensor({"champion_promoted": False, "champion_version": "", "promotion_reason": "EX 0.50 <= champion 0.55"})
    assert result.skip_message and "promoted no champion: EX 0.50 <= champion 0.55" in result.skip_message


def test_schedule_and_tags_follow_the_experiment_in_t2sql_experiment(tmp_path: Path) -> None:
    experiment = tmp_path / "nightly.yaml"
    experiment.write_text("experiment:\n  name: nightly\norchestration:\n  retrain_cron: '0 4 * * *'\n  max_runtime_s: 600\n")
    code = (
        "from t2sql_pipeline.definitions import defs; "
        "print(defs.resolve_schedule_def('retrain_schedule').cron_schedule, defs.resolve_job_def('train_and_evaluate').tags['dagster/max_runtime'])"
    )
    env = {**os.environ, "T2SQL_EXPERIMENT": str(experiment)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.strip()
    assert out.splitlines()[-1] == "0 4 * * * 600"
