"""The Dagster definitions, read back from Dagster and compared with one reviewed snapshot.

Assets (group, kinds, parents, pools, op tags), asset checks (and which block), jobs (their assets
and tags), schedules and sensors (job, cron, default status) are rendered from `defs` into
`tests/fixtures/dagster_definitions.json`. A change to the definitions fails here until the snapshot
is regenerated and the diff reviewed:

    T2SQL_UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/assets/test_definitions_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from t2sql_pipeline.definitions import defs

SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "dagster_definitions.json"


def definitions_snapshot() -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    repository = defs.get_repository_def()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "parents": sorted(p.to_user_string() for p in node.parent_keys),
            "pools": sorted(node.pools or ()),
            "op_tags": {name: _readable(value) for name, value in sorted(node.assets_def.op.tags.items())},
        }
    checks = {
        f"{k.asset_key.to_user_string()}:{k.name}": {"blocking": graph.get_check_spec(k).blocking}
        for k in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    }
    jobs = {
        job.name: {"assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys), "tags": dict(sorted(job.tags.items()))}
        for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)
        if not job.name.startswith("__")  # Dagster's implicit asset job
    }
    schedules = {
        s.name: {"job": s.job_name, "cron": s.cron_schedule, "default_status": s.default_status.value}
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {"job": s.job_name if s.has_jobs else None, "default_status": s.default_status.value, "minimum_interval_s": s.minimum_interval_seconds}
        for s in sorted(repository.sensor_defs, key=lambda s: s.name)
    }
    return {"assets": assets, "asset_checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def _readable(tag: str) -> Any:
    # Tags such as dagster-k8s/config hold JSON text: kept as its object so a diff shows the changed field.
    return json.loads(tag) if tag.startswith("{") else tag


def test_the_definitions_match_the_reviewed_snapshot() -> None:
    current = definitions_snapshot()
    if os.environ.get("T2SQL_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == expected, f"the Dagster definitions changed; review the diff and regenerate {SNAPSHOT.name} (see this module's docstring)"


def test_the_snapshot_sees_a_changed_definition() -> None:
    # Guard against a vacuous pass: the snapshot holds what the review needs, so an edit shows.
    snapshot = definitions_snapshot()
    assert snapshot["asset_checks"]["evaluation_report:beats_base_model"] == {"blocking": True}
    assert {"lora_adapter", "registered_adapter"} <= snapshot["assets"].keys() and snapshot["schedules"] and snapshot["sensors"]
    changed = json.loads(json.dumps(snapshot))
    changed["assets"]["lora_adapter"]["pools"] = []
    assert changed != json.loads(SNAPSHOT.read_text(encoding="utf-8"))
