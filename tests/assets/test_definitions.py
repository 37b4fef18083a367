"""Loading the definitions stays light, and the command line runs the same graph (the rest: test_definitions_snapshot.py)."""

import subprocess
import sys

from t2sql_pipeline.definitions import defs
from tests.conftest import PIPELINE_ASSETS


def test_loading_definitions_does_not_import_heavy_libraries() -> None:
    code = "import sys, t2sql_pipeline.definitions; print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_the_command_line_selection_uses_the_same_graph_as_dagster() -> None:
    from t2sql_pipeline.core.stages import ASSET_PARENTS

    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert {name: set(p) for name, p in ASSET_PARENTS.items()} == parents
    assert list(ASSET_PARENTS) == list(PIPELINE_ASSETS)  # materialization order
