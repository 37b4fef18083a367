"""The Dagster UI in a real browser: the asset graph, a demo run launched from the launchpad, the report page.

What a user does after `make ui`, on a fresh instance: open the asset graph, open the
launchpad, enter run config, materialize, watch the run succeed, read the evaluation report.
Screenshots of every step land in the test artifacts folder.
"""

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PIPELINE_ASSETS, QUICK_DEMO
from tests.e2e.conftest import DagsterUI

ASSETS = PIPELINE_ASSETS
RUN_CONFIG = "resources:\n  settings:\n    config:\n      experiment: demo\n      overrides:\n" + "".join(f"        - {o}\n" for o in QUICK_DEMO)
RUN_TIMEOUT_S = 900  # a quick demo run: ~2 minutes on two idle cores, over 10 when other jobs share them
UI_TIMEOUT_MS = 60_000


def graphql(ui: DagsterUI, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{ui.url}/graphql", data=json.dumps({"query": query, "variables": variables}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]


STATUS_QUERY = "query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"
EVENTS_QUERY = """
query Events($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      eventConnection(limit: 5000) {
        events {
          __typename
          ... on ExecutionStepFailureEvent { stepKey error { message } }
          ... on MaterializationEvent { assetKey { path } metadataEntries { label ... on TextMetadataEntry { text } ... on FloatMetadataEntry { floatValue } } }
        }
      }
    }
  }
}
"""
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def metadata_value(events: list[dict[str, Any]], asset: str, label: str) -> Any:
    """A text or float the run's materialization of `asset` recorded in its metadata."""
    for event in events:
        for entry in event.get("metadataEntries") or []:
            if entry["label"] == label and event.get("assetKey", {}).get("path") == [asset]:
                return entry.get("text", entry.get("floatValue"))
    raise AssertionError(f"the run recorded no {asset} materialization with {label!r}")


def wait_for_run(ui: DagsterUI, run_id: str, timeout_s: float) -> tuple[str, list[dict[str, Any]]]:
    """Polls the run's status (to know when to look at the page) until it ends or time runs out; then its events."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = graphql(ui, STATUS_QUERY, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", f"run {run_id} not found: {run}"
        if run["status"] in TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(3)
    return run["status"], graphql(ui, EVENTS_QUERY, {"runId": run_id})["runOrError"]["eventConnection"]["events"]


@contextmanager
def explained_failure(page: Any, ui: DagsterUI, artifacts: Path) -> Iterator[None]:
    """On any failure: a screenshot of the page as it was, and the servers' logs in the message."""
    try:
        yield
    except Exception as error:
        page.screenshot(path=str(artifacts / "dagster-ui-failure.png"), full_page=True)
        raise AssertionError(f"{error}\n\nscreenshot: {artifacts / 'dagster-ui-failure.png'}\n{ui.logs()}") from error


@pytest.mark.slow
def test_materialize_the_demo_from_the_ui_and_read_the_report(dagster_ui: DagsterUI, browser: Any, artifacts_dir: Path) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT_MS)

    def shot(name: str, full_page: bool = False) -> None:
        page.screenshot(
            path=str(artifacts_dir / f"dagster-ui-{name}.png"), full_page=full_page, animations="disabled"
        )  # dialogs fade in: finish the transition first

    with explained_failure(page, dagster_ui, artifacts_dir):
        # 1. The asset graph shows every asset once the groups are expanded.
        page.goto(f"{dagster_ui.url}/asset-groups")
        page.get_by_role("button", name="Materialize all").wait_for()
        page.get_by_role("button", name="settings", exact=True).click()  # the graph's view options
        page.get_by_role("menuitem", name="Expand all groups").click()
        page.keyboard.press("Escape")  # close the menu so the screenshot shows the whole graph
        graph = page.locator("svg")
        for asset in ASSETS:
            node = graph.get_by_text(asset, exact=True)
            node.wait_for(state="visible")
        shot("1-asset-graph")

        # 2. The launchpad (shift-click on Materialize all), with run config entered as YAML.
        page.get_by_role("button", name="Materialize all").click(modifiers=["Shift"])
        dialog = page.get_by_role("dialog")
        editor = dialog.locator(".CodeMirror").first
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(RUN_CONFIG)  # as pasted: no auto-indentation of the YAML
        assert editor.evaluate("e => e.CodeMirror.getValue()") == RUN_CONFIG
        dialog.get_by_text("No errors").wait_for()  # the launchpad validated the config against the resources
        shot("2-launchpad")
        dialog.get_by_role("button", name="Materialize").last.click()

        # 3. The UI opens the run's page; wait for the run to end, then see its status there.
        page.wait_for_url("**/runs/*")
        run_id = page.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        page.get_by_text("raw_spider").first.wait_for()  # the run's steps are drawn
        shot("3-run-launched")
        # The live run page re-renders every log line in software-rendered Chromium, which takes a core
        # from the training process on a 2-core machine; come back when the run has ended.
        page.goto("about:blank")
        status, events = wait_for_run(dagster_ui, run_id, RUN_TIMEOUT_S)
        failures = [f"{e['stepKey']}: {e['error']['message']}" for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
        assert status == "SUCCESS", f"run {run_id} ended {status} (or timed out after {RUN_TIMEOUT_S}s); failed steps: {failures}"
        page.goto(f"{dagster_ui.url}/runs/{run_id}")
        page.get_by_text("Success", exact=True).first.wait_for()  # the run's status badge
        page.get_by_text(re.compile(r"^Succeeded \([1-9]\d*\)$")).wait_for()  # and its steps, once the logs are loaded
        page.get_by_text("Loading run logs…").wait_for(state="hidden")
        shot("4-run-succeeded")

        # 4. The evaluation report's page: the table, the two charts and the MLflow links.
        page.set_viewport_size({"width": 1600, "height": 2000})  # every metadata row in one screenshot
        page.goto(f"{dagster_ui.url}/assets/evaluation_report")

        def metadata_row(key: str) -> Any:
            return page.locator("tr", has=page.get_by_text(key, exact=True)).first

        table = metadata_row("report")
        table.wait_for()
        from playwright.sync_api import expect

        for row in ("execution accuracy", "valid SQL", "stops at end of turn", "completion EX", "EX spider/", "EX bird/", "McNemar test"):
            expect(table, f"the report table has no {row!r} row").to_contain_text(row, timeout=15_000)  # markdown renders late
        assert page.locator(f"a[href$='/runs/{metadata_value(events, 'evaluation_report', 'mlflow_run_id')}']").count() >= 1, "no link to the MLflow run"
        # The quick demo's adapter learns: it beats its base model (0%, random weights); 18.8% on a busy machine.
        base_ex = metadata_value(events, "evaluation_report", "base_execution_accuracy")
        adapter_ex = metadata_value(events, "evaluation_report", "adapter_execution_accuracy")
        assert adapter_ex > base_ex, f"the demo's adapter ({adapter_ex:.1%}) does not beat its base ({base_ex:.1%})"
        shot("5-evaluation-report")
        for key, name in (("accuracy_chart", "6-accuracy-chart"), ("loss_curve", "7-loss-curve")):
            metadata_row(key).get_by_text("[Show Markdown]").click()
            image = page.get_by_role("dialog").locator("img")
            image.wait_for()
            src, width = image.evaluate("i => [i.src.slice(0, 22), i.naturalWidth]")
            assert src == "data:image/png;base64," and width > 300, f"{key}: no PNG shown ({src!r}, {width}px wide)"
            shot(name)
            page.get_by_role("dialog").get_by_role("button", name="Close").click()
            page.get_by_role("dialog").wait_for(state="hidden")  # gone, not fading out, before the next one opens

        # 5. The adapter's page: EX and ROUGE-L-SQL on the validation subset at each evaluation step.
        page.goto(f"{dagster_ui.url}/assets/lora_adapter")
        by_step = metadata_row("validation_by_step")
        by_step.wait_for()
        for text in ("ROUGE-L-SQL F1", "token accuracy", "EX"):
            expect(by_step, f"the by-step table has no {text!r} column").to_contain_text(text, timeout=15_000)
        shot("8-lora-adapter-by-step")

        # 6. Registration ran after the blocking check passed: the registered version and its champion decision.
        assert metadata_value(events, "registered_adapter", "registered_model").startswith("t2sql-demo v1 (")
        page.goto(f"{dagster_ui.url}/assets/registered_adapter")
        metadata_row("champion_promoted").wait_for()
        assert page.locator("a[href$='/#/models/t2sql-demo/versions/1']").count() >= 1, "no link to the registered version"
        shot("9-registered-adapter")
