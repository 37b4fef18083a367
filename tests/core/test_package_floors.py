"""The packages of `core` stand on each other in one order, and no two modules import each other.

Read from the source (module-level and function-level imports alike, since a lazy import is a
dependency too): a package may import itself, the packages below it and the shared top-level
modules; `stages` (and the `core.sql_model` alias) may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import t2sql_pipeline.core as core

FLOORS = ("sql", "scoring", "data", "training", "inference", "evaluation", "registry")  # lowest first
SHARED = {"settings", "records", "state", "provenance", "run_folder"}  # below every floor
CORE = Path(core.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_imports() -> dict[str, set[str]]:
    """Each core module's imports of other core modules (`from a.b import c` counts as a.b, or a.b.c when that is a module)."""
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("t2sql_pipeline.core"):
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
                found.update(t if t in modules else node.module for t in targets)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("t2sql_pipeline.core"))
        graph[name] = {m for m in found if m != name and m in modules}
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else ""


def floor_violations(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        own = _top(module)
        for target in targets:
            other = _top(target)
            if own in FLOORS and other in FLOORS and FLOORS.index(other) > FLOORS.index(own):
                wrong.append(f"{module} imports {target} ({other} is above {own})")
            elif own in SHARED | set(FLOORS) and other not in SHARED | set(FLOORS):
                wrong.append(f"{module} imports {target} ({other} is above every floor)")
    return sorted(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, as the modules on it (Tarjan's strongly connected components of two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_imports_only_what_is_below_it() -> None:
    graph = core_imports()
    assert {"t2sql_pipeline.core.inference.requests", "t2sql_pipeline.core.scoring.file_evaluator"} <= graph.keys()
    assert floor_violations(graph) == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert cycles(core_imports()) == []


def test_the_checks_see_an_upward_import_and_a_circle() -> None:
    # Guard against vacuous passes: a scoring module importing inference, and two modules importing each other.
    upward = {"t2sql_pipeline.core.scoring.gold_cache": {"t2sql_pipeline.core.inference.generation"}}
    assert floor_violations(upward) == ["t2sql_pipeline.core.scoring.gold_cache imports t2sql_pipeline.core.inference.generation (inference is above scoring)"]
    circle = {"t2sql_pipeline.core.registry.a": {"t2sql_pipeline.core.registry.b"}, "t2sql_pipeline.core.registry.b": {"t2sql_pipeline.core.registry.a"}}
    assert cycles(circle) == [["t2sql_pipeline.core.registry.a", "t2sql_pipeline.core.registry.b"]]


def test_every_folder_of_core_is_a_regular_package() -> None:
    # A folder without __init__.py imports as a namespace package here but is left out of a built wheel.
    folders = {p.parent for p in CORE.rglob("*.py") if "__pycache__" not in p.parts}
    assert {f.name for f in folders} >= set(FLOORS) | {"stages", "settings"}
    assert sorted(str(f) for f in folders if not (f / "__init__.py").is_file()) == []
