"""The import rules of ARCHITECTURE.md: no module imports back up the layers, and no cycles.

The layers (``[tool.importlinter]`` in pyproject.toml) keep the machine side free of the human
side and the kernel free of every stage; the cycle check covers what layers cannot, such as two
modules of one app importing each other behind a function-level import.
"""

import subprocess
import sys
from pathlib import Path

import grimp

PROJECT_DIR = Path(__file__).resolve().parents[1]
ROOTS = ("reviewapp", "workflows")


def test_every_layer_imports_only_the_layers_below_it():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_imports_one_that_imports_it_back():
    # grimp also sees imports inside functions, where cycles like to hide.
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    edges = {
        module: {
            imported
            for imported in graph.find_modules_directly_imported_by(module)
            if ".migrations." not in imported
        }
        for module in graph.modules
        if ".migrations." not in module
    }
    assert _cycles(edges) == []


def test_the_cycle_check_finds_a_hidden_cycle():
    edges = {"a.services": {"a.tasks"}, "a.tasks": {"a.services"}, "a.views": {"a.services"}}
    assert _cycles(edges) == [["a.services", "a.tasks"]]
