"""The layers' imports point one way (docs/architecture.md, STYLE.md "Layers"): no import cycle among the
modules of ``facerec/``, ``enrollment/`` and ``index/``, and ``scripts/`` never imports ``tests``.

Read from the source with :mod:`ast`, so nothing is imported and the check takes a fraction of a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("facerec", "enrollment", "index")

#: A cycle left for later, through lazy (function-level) imports only: the built-in model registry in
#: ``facerec/models/embedders/__init__.py`` asks ``custom`` for the user's models, and ``custom.add_model``
#: asks the registry whether a name is built in. Moving the registry out of the package's ``__init__`` ends it.
KNOWN_LAZY = {("facerec.models.embedders", "facerec.models.embedders.custom"),
              ("facerec.models.embedders.custom", "facerec.models.embedders")}


def _modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _module_level(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports run when the module is (those under ``if``/``try`` and ``if TYPE_CHECKING:`` included:
    an annotation's import is a dependency too), not those inside functions or classes."""
    imports: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        elif isinstance(node, ast.If):
            todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
    return imports


def _graph(*, lazy: bool) -> dict[str, set[str]]:
    """Module -> the modules of the packages it imports (``lazy``: imports inside functions too)."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] if lazy \
            else _module_level(tree)
        targets: set[str | None] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
                continue
            base = node.module or ""
            if node.level:  # relative: from the module's package upwards
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import submodule` depends on the submodule
                whole = f"{base}.{alias.name}"
                targets.add(whole if whole in modules else known(base))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shown(graph: dict[str, set[str]], cycles: list[list[str]]) -> str:
    return "; ".join(" <-> ".join(c) + " (" + ", ".join(f"{a} -> {b}" for a in c for b in sorted(graph[a])
                                                       if b in c) + ")" for c in cycles)


def test_no_import_cycle_at_module_level() -> None:
    graph = _graph(lazy=False)
    assert set(graph) >= {"facerec.config", "facerec.recognizer", "index.vector_store", "enrollment.gallery"}
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {_shown(graph, cycles)}"


def test_no_import_cycle_through_lazy_imports() -> None:
    """An import inside a function is still a dependency: it must point the same way as the others."""
    graph = _graph(lazy=True)
    for a, b in KNOWN_LAZY:
        assert b in graph[a], f"{a} no longer imports {b}: drop the pair from KNOWN_LAZY"
        graph[a].discard(b)
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {_shown(graph, cycles)}"


def test_the_cycle_finder_finds_one() -> None:
    """The check above can fail: a two-module and a three-module cycle are found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_scripts_never_import_tests() -> None:
    """scripts/ are benchmarks and jobs a user runs; what they need from the tests' helpers lives in scripts/."""
    offenders = []
    for path in sorted((ROOT / "scripts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.name}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert not offenders, f"scripts import tests: {', '.join(offenders)}"


def test_cli_modules_share_helpers_through_common() -> None:
    """A command's module imports shared helpers from ``facerec.cli.common``/``options``, never from another
    command's module (the ``zoo`` group may import its parts, ``zoo_*``), and no private (``_``) name."""
    offenders = []
    folder = ROOT / "facerec" / "cli"
    commands = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__", "common", "options"}
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            shown = f"{path.name}: from {node.module} import"
            offenders += [f"{shown} {a.name}" for a in node.names if a.name.startswith("_")]
            module = node.module.removeprefix("facerec.cli.")
            if module in commands and module != path.stem and not (path.stem == "zoo" and module.startswith("zoo_")):
                offenders.append(shown)
    assert not offenders, f"imports across command modules: {', '.join(offenders)}"
