"""The package layout keeps its promises: no import cycle, the runtime never loads dev tools.

The import graph is read from the source (module-level imports only; imports
under ``if TYPE_CHECKING:`` are for the type checker and never run), so these
checks need no Kafka and fail on the first edge that breaks a rule.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "broker"
#: The product: what runs in an agency, the router and the hub, and what auditors run.
RUNTIME: tuple[str, ...] = (
    "broker.agency",
    "broker.audit",
    "broker.codec",
    "broker.console",
    "broker.envelope",
    "broker.federation",
    "broker.hub",
    "broker.matching",
    "broker.models",
    "broker.router",
    "broker.trust",
)
#: Developer tools and the command line's Kafka resolution: never reachable from the runtime.
NOT_RUNTIME = ("broker.devtools", "broker.local", "broker.connect", "broker.cli")
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """Module-level imports of package modules (``from broker import x`` counts x)."""
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("broker"))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("broker"):
                base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    out.add(sub if sub in modules else base)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return out


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps = _imports(ast.parse(path.read_text()), set(paths))
        # Importing a.b.c runs a/__init__ and a/b/__init__ too, unless the importer is
        # inside that package (its __init__ is then already running or done).
        expanded: set[str] = set()
        for dep in deps:
            parts = dep.split(".")
            prefixes = (".".join(parts[:i]) for i in range(2, len(parts) + 1))
            expanded.update(p for p in prefixes if p == dep or not name.startswith(p + "."))
        graph[name] = {d for d in expanded if d in paths and d != name}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    # A cycle through a package's own __init__ (it re-exports its submodules) is not one.
    cycles = [
        (a, b)
        for a in graph
        for b in graph[a]
        if a in _reachable(graph, b) and not (a.startswith(b + ".") or b.startswith(a + "."))
    ]
    assert cycles == []


@pytest.mark.parametrize("package", RUNTIME)
def test_the_runtime_never_imports_dev_tools_or_the_kafka_launcher(package: str) -> None:
    graph = _graph()
    starts = [m for m in graph if m == package or m.startswith(package + ".")]
    reached = {m for s in starts for m in _reachable(graph, s) | {s}}
    assert sorted(m for m in reached if m.startswith(NOT_RUNTIME)) == []


def test_importing_trust_does_not_load_the_audit_writer() -> None:
    code = "import sys, broker.trust; print(sorted(m for m in sys.modules if 'audit' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


#: The error catalogue: one short class per reason code, drawn as one tree in its docstring
#: (tests/test_errors.py); splitting it would split the tree a reader looks for. The audit
#: event vocabulary likewise: one typed constructor per kind, "written in one place".
CATALOGUES = {ROOT / "errors.py": 650, ROOT / "audit" / "events.py": 520}


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    limits = {p: CATALOGUES.get(p, MAX_LINES) for p in sizes}
    assert {str(p): n for p, n in sizes.items() if n > limits[p]} == {}
    # The node is a façade over publisher, stream publisher and inbox.
    assert sizes[ROOT / "agency" / "node.py"] < 280
