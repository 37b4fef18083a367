import subprocess
import sys

from t2sql_pipeline.definitions import defs
from tests.conftest import PIPELINE_ASSETS

EXPECTED_ASSETS = set(PIPELINE_ASSETS)


def test_definitions_hold_the_pipeline_assets_in_groups() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups["raw_spider"] == "data" and groups["lora_adapter"] == "training" and groups["evaluation_report"] == "evaluation"
    assert groups["registered_adapter"] == "registry"


def test_asset_dependencies_follow_the_design() -> None:
    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert parents["stratified_sample"] == {"raw_spider", "raw_bird"}
    assert parents["tokenized_splits"] == {"stratified_sample", "base_model"}
    assert parents["lora_adapter"] == {"tokenized_splits", "base_model"}
    assert parents["rl_adapter"] == {"tokenized_splits", "base_model", "lora_adapter"}
    assert parents["evaluation_report"] == {"tokenized_splits", "base_model", "rl_adapter"}
    assert parents["registered_adapter"] == {"tokenized_splits", "base_model", "rl_adapter", "evaluation_report"}


def test_the_blocking_gate_stands_between_evaluation_and_registration() -> None:
    graph = defs.resolve_asset_graph()
    gate = next(key for key in graph.asset_check_keys if key.name == "beats_base_model")
    assert gate.asset_key.to_user_string() == "evaluation_report"
    assert graph.get_check_spec(gate).blocking


def test_loading_definitions_does_not_import_heavy_libraries() -> None:
    code = "import sys, t2sql_pipeline.definitions; print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_only_the_accelerator_steps_ask_for_a_gpu_pod() -> None:
    import json

    from t2sql_pipeline.assets.accelerator_tags import ACCELERATOR_K8S_CONFIG, K8S_CONFIG_TAG

    graph = defs.resolve_asset_graph()
    tagged = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        tags = node.assets_def.op.tags
        if K8S_CONFIG_TAG in tags:
            tagged.add(key.to_user_string())
            assert json.loads(tags[K8S_CONFIG_TAG]) == ACCELERATOR_K8S_CONFIG
    assert tagged == {"lora_adapter", "rl_adapter", "evaluation_report"}


def test_the_command_line_selection_uses_the_same_graph_as_dagster() -> None:
    from t2sql_pipeline.core.stages import ASSET_PARENTS

    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert {name: set(p) for name, p in ASSET_PARENTS.items()} == parents
    assert list(ASSET_PARENTS) == list(PIPELINE_ASSETS)  # materialization order
