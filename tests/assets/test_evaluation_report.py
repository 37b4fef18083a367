"""What the evaluation_report asset page shows: the table, the images and the MLflow links."""

import base64
from pathlib import Path

import pytest
from mlflow import MlflowClient

from t2sql_pipeline.assets.evaluation import markdown_image, report_table
from t2sql_pipeline.core.evaluation.charts import accuracy_chart
from t2sql_pipeline.core.records import ModelScore, ReportManifest
from t2sql_pipeline.resources.tracking import DEFAULT_UI_URL, MlflowTrackingResource


def make_report(tmp_path: Path) -> ReportManifest:
    base = ModelScore(
        execution_accuracy=0.0,
        valid_sql_rate=0.25,
        end_of_turn_rate=0.5,
        seconds_per_question=0.2,
        n_questions=8,
        n_scored=8,
        per_level={"spider/hard": 0.0, "spider/easy": 0.0},
    )
    adapter = ModelScore(
        execution_accuracy=0.625,
        valid_sql_rate=1.0,
        end_of_turn_rate=1.0,
        seconds_per_question=0.1,
        n_questions=8,
        n_scored=8,
        per_level={"spider/hard": 0.5, "spider/easy": 0.75, "bird/simple": 1.0},
    )
    chart = accuracy_chart(base, adapter, tmp_path / "accuracy_chart.png")
    return ReportManifest(
        path=str(tmp_path / "report.json"), predictions_path=str(tmp_path / "p.jsonl"), accuracy_chart_path=str(chart), base=base, adapter=adapter,
        evaluated_split="test", mcnemar_only_base=0, mcnemar_only_adapter=5, mcnemar_p_value=0.0625,
        mlflow_run_id="r", data_version="d", eval_split="e", code_version="c",
    )  # fmt: skip


def test_table_has_a_row_per_metric_and_level_in_benchmark_order(tmp_path: Path) -> None:
    lines = report_table(make_report(tmp_path)).splitlines()
    assert lines[0] == "| 8 test questions | base model | adapter |" and lines[1] == "|---|---:|---:|"
    assert lines[2:] == [
        "| execution accuracy | 0.0% | 62.5% |",
        "| valid SQL | 25.0% | 100.0% |",
        "| stops at end of turn | 50.0% | 100.0% |",
        "| EX bird/simple | – | 100.0% |",  # the base scored no bird/simple question: no figure, not 0%
        "| EX spider/easy | 0.0% | 75.0% |",
        "| EX spider/hard | 0.0% | 50.0% |",
        "",
        "Paired exact McNemar test: 5 questions only the adapter answers, 0 only the base model; p = 0.0625.",
    ]


def test_markdown_image_embeds_the_png_bytes(tmp_path: Path) -> None:
    report = make_report(tmp_path)
    markdown = markdown_image("accuracy", report.accuracy_chart_path)
    assert markdown.startswith("![accuracy](data:image/png;base64,") and markdown.endswith(")")
    assert base64.b64decode(markdown.split(",", 1)[1][:-1]) == Path(report.accuracy_chart_path).read_bytes()


def test_links_point_at_the_mlflow_ui_run_and_version_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("links", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment_id).info.run_id

    monkeypatch.delenv("T2SQL_MLFLOW_UI_URL", raising=False)
    default = MlflowTrackingResource(tracking_uri=tracking_uri)
    assert default.ui_url == DEFAULT_UI_URL
    assert default.run_url(run_id) == f"{DEFAULT_UI_URL}/#/experiments/{experiment_id}/runs/{run_id}"

    monkeypatch.setenv("T2SQL_MLFLOW_UI_URL", "https://mlflow.example.org/")
    configured = MlflowTrackingResource(tracking_uri=tracking_uri)
    assert configured.model_version_url("t2sql demo", "3") == "https://mlflow.example.org/#/models/t2sql%20demo/versions/3"
    assert MlflowTrackingResource(tracking_uri=tracking_uri, ui_url="http://h:1").run_url(run_id).startswith(f"http://h:1/#/experiments/{experiment_id}/")


def test_table_shows_completion_when_measured(tmp_path: Path) -> None:
    report = make_report(tmp_path).model_copy(
        update={"completion": {"base": {"execution_accuracy": 0.0, "rouge_l_sql": 0.125}, "adapter": {"execution_accuracy": 0.75, "rouge_l_sql": 0.9}}}
    )
    lines = report_table(report).splitlines()
    assert lines[5:7] == ["| completion EX | 0.0% | 75.0% |", "| completion ROUGE-L-SQL F1 | 12.5% | 90.0% |"]
    assert "completion" not in report_table(make_report(tmp_path))  # not measured: no rows
