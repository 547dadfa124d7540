"""The package's layers hold: no import cycles, and physics is functions of numbers.

Imports are read from the source (ast), so a cycle hidden in a function body counts too; imports
under ``if TYPE_CHECKING:`` are annotations only and do not.
"""

import ast

from helpers import REPO_ROOT

SIM = REPO_ROOT / "sim"
PHYSICS_MAY_IMPORT = ("sim.physics", "sim.units", "sim.keydist")
"""Physics takes plain numbers; key distributions (small frozen value objects) and unit constants are the
only things it reads from outside its package."""


def modules() -> dict[str, tuple]:
    found = {}
    for path in SIM.rglob("*.py"):
        rel = path.relative_to(REPO_ROOT).with_suffix("")
        is_init = rel.name == "__init__"
        found[".".join(rel.parts[:-1] if is_init else rel.parts)] = (path, is_init)
    return found


def imports() -> dict[str, set[str]]:
    """Every sim module -> the sim modules it imports anywhere in its body (TYPE_CHECKING blocks aside)."""
    mods = modules()

    def owner(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_init) in mods.items():
        package = name if is_init else name.rpartition(".")[0]
        found: set[str] = set()
        for node in import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [owner(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base) for a in node.names]
            else:
                targets = [owner(a.name) for a in node.names]
            found |= {t for t in targets if t and t != name}
        graph[name] = found
    return graph


def import_nodes(node: ast.AST):
    """Import statements anywhere below ``node``, except under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from import_nodes(child)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_module_imports_itself_back_through_others():
    graph = imports()
    # a package's __init__ may import its own modules (the public API's lazy map does); judge modules only
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_physics_is_functions_of_numbers():
    outside = {
        (module, dep)
        for module, deps in imports().items()
        if module.startswith("sim.physics")
        for dep in deps
        if not dep.startswith(PHYSICS_MAY_IMPORT)
    }
    assert outside == set()
