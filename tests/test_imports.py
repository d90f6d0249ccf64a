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


def module_name(path: Path) -> str:
    """``path``'s module in convops, dotted: ``count``, ``symbolic.tracing``; a package is its
    ``__init__``'s folder (``symbolic``)."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def imports(path: Path, name: str | None = None) -> set[str]:
    """The convops modules ``path`` imports (their dotted names without the package); ``name``:
    the module ``path`` is, for its relative imports (default: its file name)."""
    tree = ast.parse(path.read_text())
    name = name or path.stem
    package = name.split(".")[:-1] if path.stem != "__init__" else name.split(".")
    skipped, found = _type_checking_nodes(tree), set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join([*base, *filter(None, [node.module])])
            elif (node.module or "").split(".")[0] == "convops":
                module = (node.module or "").removeprefix("convops").lstrip(".")
            else:
                continue
            if module and node.module:
                found.add(module)
            else:  # from . import x, y
                found |= {".".join([*filter(None, [module]), alias.name]) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("convops.") for alias in node.names
                      if alias.name.startswith("convops.")}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    # a name imported from a module is that module; from a package, its own module if it is one
    found = {m if m in modules else m.rpartition(".")[0] or m for m in found}
    return found - {name}


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports(path, module_name(path)) for path in PACKAGE.rglob("*.py")
            if path != PACKAGE / "__init__.py"}


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
    assert {"profiling", "symbolic.tracing", "capture", "backward", "derivation"} <= set(edges)
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))
