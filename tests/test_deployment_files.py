"""The deployment files under deploy/ parse and say what Dagster's Helm chart, Dagster and Kubernetes expect.

The Helm values are validated against the chart's own values.schema.json (the part we use,
vendored in tests/fixtures with its source). `jsonschema` is not a dependency, so a small
validator below implements the keywords that schema uses.
"""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from t2sql_pipeline.assets.accelerator_tags import ACCELERATOR_K8S_CONFIG, ACCELERATOR_OP_TAGS, GPU_RESOURCE, K8S_CONFIG_TAG
from t2sql_pipeline.core.state import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
HELM_VALUES = DEPLOY / "helm" / "dagster-values.yaml"
PG_DAGSTER_YAML = DEPLOY / "postgres" / "dagster.yaml"
DOCS = REPO_ROOT / "docs" / "deployment.md"
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "dagster_helm_values.schema.subset.json").read_text())
NAMESPACE = "t2sql"

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "integer": (int,),
    "number": (int, float),
}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$", root: dict[str, Any] = SCHEMA) -> list[str]:
    """Violations of `schema` by `value`: $ref (local), type, enum, const, properties, additionalProperties,
    required, items, anyOf, allOf with if/then — the keywords the chart's schema uses."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/definitions/")
        return schema_errors(value, root["definitions"][name], path, root)
    errors: list[str] = []
    if "type" in schema:
        allowed = JSON_TYPES[schema["type"]]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            return [f"{path}: expected {schema['type']}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "anyOf" in schema:
        found = [schema_errors(value, option, path, root) for option in schema["anyOf"]]
        if all(found):  # report the form whose type fitted, with its own errors
            fitting = [f for f in found if not f[0].startswith(f"{path}: expected ")]
            errors += fitting[0] if fitting else [f"{path}: matches none of the allowed forms"]
    for rule in schema.get("allOf", []):
        if "if" in rule and not schema_errors(value, rule["if"], path, root):
            errors += schema_errors(value, rule["then"], path, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{path}: missing required key {key!r}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{path}.{key}", root)
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unknown key {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], f"{path}.{key}", root)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{index}]", root)
    return errors


def load_docs(path: Path) -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents, f"{path} holds no YAML document"
    return documents


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in load_docs(path)]


@pytest.fixture
def values() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(HELM_VALUES.read_text()))


def test_every_yaml_under_deploy_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert {p.relative_to(DEPLOY).as_posix() for p in paths} >= {"helm/dagster-values.yaml", "postgres/dagster.yaml", "k8s/mlflow.yaml"}
    for path in paths:
        assert all(isinstance(doc, dict) for doc in load_docs(path)), path


def test_helm_values_match_the_charts_schema(values: dict[str, Any]) -> None:
    assert schema_errors(values, SCHEMA) == []


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda v: v["dagsterWebserver"].update(replicaCont=2), "unknown key 'replicaCont'"),
        (lambda v: v["runLauncher"]["config"].pop("k8sRunLauncher"), "missing required key 'k8sRunLauncher'"),
        (lambda v: v["runLauncher"].update(type="K8sLauncher"), "is not one of"),
        (lambda v: v["dagster-user-deployments"]["deployments"][0].pop("image"), "missing required key 'image'"),
        (lambda v: v["dagster-user-deployments"]["deployments"][0].update(port="3030"), "expected integer"),
        (lambda v: v["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"].update(container_config={}), "unknown key 'container_config'"),
        (lambda v: v.update(dagsterWebServer={}), "unknown key 'dagsterWebServer'"),
    ],
)
def test_the_validator_rejects_a_corrupted_copy(values: dict[str, Any], corrupt: Any, expected: str) -> None:
    corrupt(values)
    errors = schema_errors(values, SCHEMA)
    assert any(expected in e for e in errors), errors


def test_helm_values_use_external_postgres_the_k8s_launcher_and_our_code_location(values: dict[str, Any]) -> None:
    pg = values["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlHost"] and pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert "postgresqlPassword" not in pg and values["generatePostgresqlPasswordSecret"] is False and values["global"]["postgresqlSecretName"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["jobNamespace"] == NAMESPACE
    run_resources = launcher["runK8sConfig"]["containerConfig"]["resources"]
    assert GPU_RESOURCE not in run_resources["limits"]  # only the accelerator steps ask for a GPU
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file() and args[args.index("--attribute") + 1] == "defs"
    assert values["telemetry"]["enabled"] is False and values["dagsterDaemon"]["runMonitoring"]["enabled"] is True


def test_instance_settings_are_the_same_everywhere(values: dict[str, Any]) -> None:
    local = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    postgres = yaml.safe_load(PG_DAGSTER_YAML.read_text())
    for key in ("telemetry", "run_monitoring", "concurrency"):
        assert postgres[key] == local[key], key
    assert values["additionalInstanceConfig"]["concurrency"] == local["concurrency"]
    assert values["dagsterDaemon"]["runMonitoring"]["pollIntervalSeconds"] == local["run_monitoring"]["poll_interval_seconds"]


def test_postgres_instance_config_passes_dagsters_own_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for name in ("HOST", "PORT", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"T2SQL_PG_{name}", "5432" if name == "PORT" else "x")
    (tmp_path / "dagster.yaml").write_text(PG_DAGSTER_YAML.read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2" and all("env" in db[k] for k in ("hostname", "port", "username", "password", "db_name"))

    broken = yaml.safe_load(PG_DAGSTER_YAML.read_text())
    broken["storage"]["postgres"]["postgres_db"]["hostnme"] = broken["storage"]["postgres"]["postgres_db"].pop("hostname")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(Exception, match="hostn"):
        dagster_instance_config(str(tmp_path))


def test_k8s_manifests_are_complete_objects() -> None:
    docs = manifests()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "ConfigMap", "Namespace"}
    labels_by_deployment = {}
    for path, doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), path
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, (path, doc["metadata"]["name"])
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items(), path
            containers = template["spec"]["containers"]
            assert containers and all(c.get("name") and c.get("image") for c in containers), path
            labels_by_deployment[doc["metadata"]["name"]] = template["metadata"]["labels"]
    for path, doc in docs:
        if doc["kind"] == "Service":
            selector = doc["spec"]["selector"].items()
            assert any(selector <= labels.items() for labels in labels_by_deployment.values()), f"{path}: service selects no pod"


def test_mlflow_server_uses_postgres_and_proxied_object_storage() -> None:
    (deployment,) = [d for _, d in manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = dict(a.removeprefix("--").split("=", 1) if "=" in a else (a.removeprefix("--"), "") for a in container["args"])
    assert container["command"] == ["mlflow", "server"] and "serve-artifacts" in args
    assert args["artifacts-destination"].startswith("s3://")
    assert args["backend-store-uri"] == "$(MLFLOW_BACKEND_STORE_URI)"  # postgresql+psycopg2://... from a secret
    assert "mlflow.t2sql.svc.cluster.local:5000" in args["allowed-hosts"].split(",")
    (config_map,) = [d for _, d in manifests() if d["kind"] == "ConfigMap"]
    assert config_map["data"]["MLFLOW_TRACKING_URI"] == f"http://mlflow.{NAMESPACE}.svc.cluster.local:5000"
    experiment = config_map["data"]["T2SQL_EXPERIMENT"]
    assert (REPO_ROOT / "configs" / "experiments" / f"{experiment}.yaml").is_file()


def test_accelerator_tags_match_the_docs() -> None:
    assert set(ACCELERATOR_OP_TAGS) == {K8S_CONFIG_TAG}
    config = ACCELERATOR_OP_TAGS[K8S_CONFIG_TAG]
    assert config["container_config"]["resources"]["limits"][GPU_RESOURCE] == "1"
    assert set(config) <= {"container_config", "pod_spec_config", "pod_template_spec_metadata", "job_config", "job_metadata", "job_spec_config"}
    # The docs show the tag as YAML; it must be exactly what the code applies.
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    documented = [b for b in (yaml.safe_load(block) for block in blocks) if isinstance(b, dict) and K8S_CONFIG_TAG in b]
    assert documented, f"{DOCS} shows no {K8S_CONFIG_TAG} block"
    assert all(block == ACCELERATOR_OP_TAGS for block in documented)
    assert ACCELERATOR_K8S_CONFIG is config


def test_run_pods_mount_the_shared_state_claim_at_t2sql_home(values: dict[str, Any]) -> None:
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (volume,) = launcher["volumes"]
    (mount,) = launcher["volumeMounts"]
    claims = {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == "PersistentVolumeClaim"}
    claim = claims[volume["persistentVolumeClaim"]["claimName"]]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # run, step and training pods share one run folder
    (config_map,) = [d for _, d in manifests() if d["kind"] == "ConfigMap"]
    assert mount["name"] == volume["name"] and mount["mountPath"] == config_map["data"]["T2SQL_HOME"]


def test_capacity_table_is_what_the_script_computes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The capacity plan's training table must be recomputable: same N, tokens and GPU-minutes as the script."""
    import os
    import sys

    data = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (data / "spider-dev" / "dev.json").is_file() or not (data / "bird-dev" / "dev.json").is_file():
        pytest.skip(f"Spider/BIRD dev files not found under {data} (set T2SQL_SHARED_DATA)")
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from benchmarks import capacity_inputs

    monkeypatch.setattr(sys, "argv", ["capacity_inputs.py", "--data", str(data), "--out", str(tmp_path / "capacity.json")])
    result = capacity_inputs.main()
    docs = DOCS.read_text()
    for name, label in (("llama-3.2-1b", "Llama-3.2-1B"), ("llama-3.2-3b", "Llama-3.2-3B")):
        assert f"{label} **{result['models'][name]['matmul_parameters'] / 1e9:.3f} B**" in docs
    for source, label in (("spider", "Spider"), ("bird", "BIRD")):
        assert f"{label} **{result['sources'][source]['tokens_mean']:.0f}**" in docs
    rows = {(e["source"], e["model"], e["mfu"]): e for e in result["epochs"]}
    for source, label in (("spider", "Spider"), ("bird", "BIRD")):
        for model, model_label in (("llama-3.2-1b", "Llama-3.2-1B"), ("llama-3.2-3b", "Llama-3.2-3B")):
            high, low = rows[(source, model, 0.4)], rows[(source, model, 0.2)]
            row = (
                f"| {label} | {model_label} | {high['train_questions']:,} | {high['tokens'] / 1e6:.2f} M | "
                f"{high['flops'] / 1e16:.2f} × 10¹⁶ | {high['gpu_hours']:.3f} ({high['gpu_hours'] * 60:.1f} min) | "
                f"{low['gpu_hours']:.3f} ({low['gpu_hours'] * 60:.1f} min) |"
            )
            assert row in docs, row
