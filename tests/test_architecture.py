"""The layer rule: a subpackage imports only its own layer and the layers below it; reporting never loads torch.

    core, config  <  data  <  modeling  <  training  <  evaluation  <  serving  <  reporting  <  stages, cli, cli_flags

Checked on the source with `ast` (function-local imports included), so a lazy import cannot hide a
reach upwards. Within a layer, no modules import each other in a cycle (of any length).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.stages.cache import imported_names, module_file

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
LAYERS = {
    "core": 0,
    "config": 0,
    "data": 1,
    "modeling": 2,
    "training": 3,
    "evaluation": 4,
    "serving": 5,
    "reporting": 6,
    "stages": 7,
    "cli": 7,
    "cli_flags": 7,
    "__main__": 8,
}


def layer_of(module: str) -> int | None:
    """The layer of `pipeline.<first>...`; None for the package root (`pipeline` itself)."""
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else None


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module of the package the file imports, at any depth of the file (the reading the stage
    graph hashes code with)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = imported_names(ast.parse(path.read_text(), str(path)), package)
    return {name for name in names if module_file(name) is not None}


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    assert {module_name(path).split(".")[1] for path in SOURCES if "." in module_name(path)} <= set(LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    own = layer_of(module_name(path))
    if own is None:
        return
    upward = sorted(m for m in imported_modules(path) if (layer_of(m) or 0) > own)
    assert not upward, f"{module_name(path)} (layer {own}) imports {upward}"


def test_the_rule_sees_a_function_local_import_upwards(tmp_path):
    source = PACKAGE / "data" / "probe.py"  # read, never written: the path only names its package
    tree = ast.parse("def f():\n    from pipeline.reporting.build import build_report\n")
    assert "pipeline.reporting.build" in imported_names(tree, "pipeline.data")
    assert module_name(source) == "pipeline.data.probe"
    assert layer_of("pipeline.reporting.build") > layer_of("pipeline.data.prepare")


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports (function-local ones included)."""
    return {module_name(path): imported_modules(path) for path in SOURCES}


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as the modules along it, the first repeated at the end; [] when there is none.
    A module's own name is no edge: `from . import sub` in a package's `__init__` names the package."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        path.append(module)
        for target in sorted(graph.get(module, set()) - {module}):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return []


def test_no_modules_import_each_other_in_a_cycle():
    cycle = import_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_sees_a_function_local_import_back():
    graph = import_graph()
    tree = ast.parse("def findings(runs):\n    from pipeline.reporting.tables.speed import latency_table\n")
    graph["pipeline.reporting.facts"] |= {m for m in imported_names(tree, "pipeline.reporting") if module_file(m)}
    cycle = import_cycle(graph)
    assert (len(cycle), cycle[0]) == (3, cycle[-1])
    assert set(cycle) == {"pipeline.reporting.facts", "pipeline.reporting.tables.speed"}


def test_the_cycle_check_follows_a_longer_cycle_and_skips_a_module_naming_itself():
    graph = {"a": {"a", "a.b"}, "a.b": {"c"}, "c": {"d"}, "d": set()}
    assert import_cycle(graph) == []
    graph["d"] = {"a.b"}
    assert import_cycle(graph) == ["a.b", "c", "d", "a.b"]


def test_reporting_never_loads_torch():
    probe = (
        "import sys, pkgutil, importlib, pipeline.reporting as r\n"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(r.__path__, 'pipeline.reporting.')]\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
