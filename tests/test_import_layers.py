"""The rooms of docs/architecture.md hold: imports point down only, and no module imports itself round a circle.

Every module's imports are read with ``ast`` (nothing is imported). An edge is any
``import``/``from ... import`` of a facade module: at module level, inside a
function (a local import used to dodge a circle is still a circle) and under
``if TYPE_CHECKING:`` (a typing-only import still ties the two modules together).
``from facade.x import y`` is an edge to ``facade.x.y`` when that is a module,
else to ``facade.x``. The implicit import of a parent package's ``__init__`` is not
counted: every package that re-exports its modules would otherwise be a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pyproject's package-dir: the repository's top-level folders as facade packages.
FOLDERS = {"facade": "facade", "adapters": "facade.adapters", "native_fallback": "facade.native_fallback",
           "conformance": "facade.conformance"}

# Rooms from the bottom up (docs/architecture.md); a module may import its own room and the rooms below.
ROOMS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("facade.errors", "facade.globs", "facade.tensor", "facade.inputs", "facade.targets", "facade.devices",
                "facade.gpu_probe", "facade.model", "facade.intake", "facade.graph_checks", "facade.trace",
                "facade.cache", "facade.offline", "facade.tables", "facade.childproc", "facade.tolerances",
                "facade.metrics", "facade.verdict_store", "facade.suggest", "facade.progress")),
    ("engine", ("facade.native_fallback",)),
    ("conversion", ("facade.convert", "facade.reference")),
    ("zoo", ("facade.zoo",)),
    ("adapters", ("facade.adapters", "facade.quantization")),
    ("measurement", ("facade.versions", "facade.probe", "facade.benchmark")),
    ("policy", ("facade.policy",)),
    ("router", ("facade.router",)),
    ("session", ("facade.session",)),
    ("conformance", ("facade.conformance",)),
    ("surface", ("facade.cli", "facade")),
]
ABOVE_GROUND = ("facade.adapters", "facade.conformance", "facade.policy", "facade.router")


def modules() -> dict[str, Path]:
    """Module name -> file, for every module of the four folders."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(name: str) -> str | None:
    """The module an imported name lives in (``facade.x.y`` -> ``facade.x`` when y is not a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(name: str, path: Path) -> list[tuple[str, int, str]]:
    """(imported facade module, line, how: module | local | typing) for every import in the file."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, how: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for part in child.body:
                    visit_one(part, "typing")
                for part in child.orelse:
                    visit_one(part, how)
                continue
            inner = "local" if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else how
            visit_one(child, inner if how == "module" else how)

    def visit_one(node: ast.AST, how: str) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, how) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full if full in MODULES else base, node.lineno, how))
        else:
            visit(node, how)

    visit(ast.parse(path.read_text(encoding="utf-8")), "module")
    return [(target, line, how) for raw, line, how in found if (target := _resolve(raw)) and target != name]


EDGES = {name: imports(name, path) for name, path in MODULES.items()}


def room(module: str) -> int:
    """The rank of the room holding ``module`` (most specific prefix wins); -1 when no room names it."""
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(ROOMS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    return rank


def circles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    graph = {m: sorted({t for t, _, _ in edges}) for m, edges in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(graph[node]):
                work.append((node, i + 1))
                nxt = graph[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_every_module_is_in_a_room():
    homeless = sorted(m for m in MODULES if room(m) < 0)
    assert not homeless, f"add these modules to a room here and in docs/architecture.md: {homeless}"


def test_no_import_circle():
    assert circles() == []


def test_imports_point_down():
    upward = [f"{m}:{line} ({how}) imports {t} ({ROOMS[room(t)][0]} is above {ROOMS[room(m)][0]})"
              for m, edges in EDGES.items() for t, line, how in edges if room(t) > room(m)]
    assert not upward, "\n".join(upward)


def test_the_ground_imports_no_adapter_conformance_policy_or_router():
    ground = [m for m in MODULES if ROOMS[room(m)][0] == "ground"]
    assert {"facade.errors", "facade.targets", "facade.tensor", "facade.model", "facade.trace"} <= set(ground)
    bad = [f"{m}:{line} imports {t}" for m in ground for t, line, _ in EDGES[m] if t.startswith(ABOVE_GROUND)]
    assert not bad, "\n".join(bad)


def test_the_reader_sees_hidden_edges(tmp_path):
    """The rules above mean something only if local and typing-only imports are read: the reader on a sample."""
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\nimport facade.errors\nif TYPE_CHECKING:\n"
                      "    from facade import router\ndef f():\n    from facade.policy import schema\n")
    got = {(target, how) for target, _, how in imports("facade.sample", sample)}
    assert got == {("facade.errors", "module"), ("facade.router", "typing"), ("facade.policy.schema", "local")}
