"""No import circle among the modules of `mimir/` (issue 21: the package is layered, each module below those that
use it).

The graph is read from the source with `ast`, so the test needs no imports of its own. Every import counts, those
inside functions and under `if TYPE_CHECKING:` too: a lazy or annotation-only import that closes a circle still ties
the two modules into one (the trials <-> votes circle of issue 21 was one under TYPE_CHECKING). An import of
`mimir.a.b` also runs `mimir/a/__init__.py`, so it is an edge to the package as well.
"""

import ast
from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parents[1] / "mimir"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST):
    """Every Import and ImportFrom node of `tree`, at any depth."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the mimir modules it imports (and their parent packages)."""

    def known(name: str) -> str | None:
        """`name` if it is a module of the package, else the nearest enclosing one (an attribute import)."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:  # relative: from the module's package, one level up per extra dot
                    base = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                if not (target == "mimir" or target.startswith("mimir.")):
                    continue
                found = known(target)
                while found:  # the module and every package above it run
                    if found != name:
                        edges.add(found)
                    found = found.rpartition(".")[0] or None
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None. Depth-first search with three colours."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_parent(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def test_no_import_circle_in_mimir():
    graph = import_graph(package_modules())
    # A package's __init__ importing its own submodules, which in turn run that __init__, is how packages work: only
    # a circle through two modules neither of which contains the other counts.
    graph = {m: {t for t in targets if not _is_parent(m, t)} for m, targets in graph.items()}
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph))}"


def test_the_checker_finds_a_circle(tmp_path, monkeypatch):
    """The checker itself: planted circles are found, one closed by a lazy import inside a function, one by an import
    under TYPE_CHECKING."""
    pkg = tmp_path / "mimir"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from mimir.a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mimir import d\n")
    (pkg / "d.py").write_text("import mimir.c\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", pkg)
    graph = import_graph(package_modules())
    assert find_cycle(graph) == ["mimir.a", "mimir.sub.b", "mimir.a"]
    (pkg / "sub" / "b.py").write_text("def f():\n    pass\n")
    assert find_cycle(import_graph(package_modules())) == ["mimir.c", "mimir.d", "mimir.c"]  # annotation-only


@pytest.mark.parametrize("leaf", ["mimir.text_models", "mimir.lora", "mimir.model_sources"])
def test_the_loading_layers_stay_below_the_registry(leaf):
    """presets.py (the registry) names loaders from text_models; loading.py builds pipelines from the registry. The
    layers below it import nothing of the package, so neither can ever close a circle through the registry."""
    graph = import_graph(package_modules())
    assert graph[leaf] <= {"mimir"}, f"{leaf} imports {sorted(graph[leaf])}"
