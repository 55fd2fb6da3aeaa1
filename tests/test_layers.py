"""The package's layering, checked on its real import graph.

Every ``import`` statement in ``romanus/`` counts, at module level or inside a function. The
graph must have no cycle, and no module may import from a layer above its own. The layer
order is declared here, once.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "romanus"

#: lowest first; a module may import from its own layer and the layers before it
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundations",
        (
            "romanus.rng",
            "romanus.fileio",
            "romanus.configio",
            "romanus.config",
            "romanus.cliargs",
            "romanus.workers",
            "romanus.stats",
            "romanus.traces",
            "romanus.drives",
            "romanus.coverage",
        ),
    ),
    ("pipeline", ("romanus.pipeline",)),
    ("sim", ("romanus.sim",)),
    ("scenario", ("romanus.scenario",)),
    ("vehicle", ("romanus.vehicle",)),
    ("policies", ("romanus.policies",)),
    ("env", ("romanus.env",)),
    ("train", ("romanus.train",)),
    (
        "tools",
        (
            "romanus.plots",
            "romanus.compare",
            "romanus.fleetscenario",
            "romanus.fleetcompare",
            "romanus.sweep",
            "romanus.study",
            "romanus.fleetbench",
            "romanus.bench",
        ),
    ),
    ("cli", ("romanus.fleetcli", "romanus.cli")),
)
#: modules of the simulator core that must load without the learning stack
CORE = ("romanus.sim.simulator", "romanus.sim.fleet", "romanus.scenario", "romanus.vehicle", "romanus.policies")
HEAVY = ("gymnasium", "torch", "stable_baselines3", "sb3_contrib")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """module -> the romanus modules it imports (anywhere in its source)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
                for a in node.names:  # ``from pkg import module`` imports that module
                    targets.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read_from_real_imports() -> None:
    graph = import_graph()
    assert "romanus.sim.simulator" in graph["romanus.vehicle.view"]
    assert "romanus.vehicle.estimates" in graph["romanus.policies"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    # the package root only re-exports lazily and reads nothing back: it stands outside
    graph = {m: t - {"romanus"} for m, t in import_graph().items() if m != "romanus"}
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_imports_from_a_higher_layer() -> None:
    wrong = []
    for module, targets in import_graph().items():
        if module == "romanus":
            continue
        for t in targets - {"romanus"}:
            if layer_of(t) > layer_of(module):
                wrong.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})")
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize("module", CORE)
def test_the_core_loads_without_the_learning_stack(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "", f"importing {module} imported {out.stdout.strip()}"
