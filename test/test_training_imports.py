"""The training package's place in the import graph (AST, imports inside functions included): nothing under
training/ imports ros/ or the learner facade's module from the loop, and no import cycle runs through it."""

from __future__ import annotations

import ast
from pathlib import Path

from ros_helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "retinaface_ros"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """module → the retinaface_ros modules it imports anywhere in its text (lazy imports too)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                found = resolve(target) if target.startswith("retinaface_ros") else None
                if found and found != name:
                    graph[name].add(found)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_training_imports_nothing_from_ros():
    graph = _import_graph()
    upward = {(m, t) for m, ts in graph.items() if m.startswith("retinaface_ros.training") for t in ts}
    assert not {(m, t) for m, t in upward if t.startswith("retinaface_ros.ros")}


def test_the_loop_does_not_import_the_learner():
    graph = _import_graph()
    assert "retinaface_ros.learner" not in _reachable(graph, "retinaface_ros.training.loop")
    assert "retinaface_ros.learner" not in _reachable(graph, "retinaface_ros.training.config")


def test_no_import_cycle_runs_through_training():
    graph = _import_graph()
    training = [name for name in graph if name.startswith("retinaface_ros.training.")]
    for name in training:
        # a cycle: a module that imports something which (transitively) imports it back; the package's own
        # __init__ re-exporting its modules is not one
        back = {other for other in _reachable(graph, name) if name in _reachable(graph, other)}
        assert back <= {"retinaface_ros.training"}, (name, sorted(back))
