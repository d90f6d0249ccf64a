"""The house: no module of convops imports, directly or through others, a module that imports it.

Every import counts, at module level or inside a function; only those under ``if TYPE_CHECKING:``
(which never run) do not.
"""

import ast
from pathlib import Path

import convops

PACKAGE = Path(convops.__file__).parent


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    return skipped


def imports(path: Path) -> set[str]:
    """The convops modules ``path`` imports (their names without the package)."""
    tree = ast.parse(path.read_text())
    skipped, found = _type_checking_nodes(tree), set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.module or "").split(".")[0] == "convops":
                module = (node.module or "").removeprefix("convops").lstrip(".")
                if module:
                    found.add(module.split(".")[0])
                else:  # from . import x, y
                    found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("convops.")}
    return found - {path.stem}


def graph() -> dict[str, set[str]]:
    return {path.stem: imports(path) for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``edges`` as the list of its modules (the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", path.append(node)
        for child in sorted(edges.get(node, ())):
            if state.get(child) == "open":
                return path[path.index(child):] + [child]
            if child not in state and (cycle := visit(child)):
                return cycle
        state[node], _ = "done", path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_reader_sees_imports_inside_functions_but_not_type_checking_ones(tmp_path):
    module = tmp_path / "example.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n"
                      "def f():\n    from .b import g\n    from . import c\n"
                      "import convops.d\n")
    assert imports(module) == {"b", "c", "d"}


def test_find_cycle_finds_one_through_three_modules():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_convops():
    edges = graph()
    assert {"profiling", "symbolic_profile", "capture", "backward", "derivation"} <= set(edges)
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))
