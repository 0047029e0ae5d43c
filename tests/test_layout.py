"""The import rule of the three layers, read from the source (an AST walk, no imports run).

- The core, ``autosched.scheduler``, imports only the standard library.
- The Django app (every other module but ``autosched.runner`` and ``autosched.management``)
  never imports the runner or the management commands.
- The runner never imports the management commands.
- No import cycle among autosched's modules, imports inside functions included
  (``if TYPE_CHECKING:`` blocks excepted: they never run).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autosched"
CORE, RUNNER, COMMANDS = "autosched.scheduler", "autosched.runner", "autosched.management"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "migrations" not in path.parts
}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def nodes_that_run(tree: ast.AST) -> Iterator[ast.AST]:
    """Yield every node of ``tree``, at any depth, but those in ``if TYPE_CHECKING:`` bodies."""
    # Not ast.walk: it queues a node's children before yielding the node, so emptying an
    # ``if``'s body on the way is too late to keep its imports out.
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            todo.extend(reversed(node.orelse))
        else:
            todo.extend(reversed(list(ast.iter_child_nodes(node))))


def imported(module: str, tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Yield (imported module, line) for each import that runs, at any depth."""
    for node in nodes_that_run(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")
                if module_name(MODULES[module]) == module and MODULES[module].stem != "__init__":
                    package = package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            yield base, node.lineno
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:  # ``from package import submodule``
                    yield f"{base}.{alias.name}", node.lineno


def imports_of(module: str) -> list[tuple[str, int]]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return list(imported(module, tree))


def layer(module: str) -> str:
    for prefix, name in ((CORE, "core"), (RUNNER, "runner"), (COMMANDS, "commands")):
        if module == prefix or module.startswith(prefix + "."):
            return name
    return "app"


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def test_the_layers_are_all_there() -> None:
    assert {layer(module) for module in MODULES} == {"core", "app", "runner", "commands"}
    assert "autosched.models" in MODULES  # a package: every model is importable from it


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "core"))
def test_the_core_imports_only_the_standard_library(module: str) -> None:
    outside = [
        (name, line)
        for name, line in imports_of(module)
        if not is_stdlib(name) and layer(name) != "core"
    ]
    assert outside == [], f"{module} imports beyond the stdlib and the core"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in {"app", "runner"}))
def test_no_layer_imports_one_above_it(module: str) -> None:
    above = {"app": {"runner", "commands"}, "runner": {"commands"}}[layer(module)]
    wrong = [(name, line) for name, line in imports_of(module) if layer(name) in above]
    wrong = [(name, line) for name, line in wrong if name.startswith("autosched.")]
    assert wrong == [], f"{module} ({layer(module)}) imports a layer above it"


def test_no_import_cycle() -> None:
    graph = {
        module: sorted({name for name, _ in imports_of(module) if name in MODULES} - {module})
        for module in MODULES
    }
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in graph[module]:
            # Importing a module inside a package first runs the package's __init__: that
            # implicit step is no cycle, so a package importing its own modules is fine.
            if module.startswith(target + "."):
                continue
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_rule_sees_a_lazy_import_in_a_function() -> None:
    tree = ast.parse("def f():\n    from autosched.runner import SchedulerRunner\n")
    assert ("autosched.runner", 2) in list(imported("autosched.models", tree))


def test_the_rule_ignores_type_checking_blocks() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import autosched.runner\n"
    assert "autosched.runner" not in [
        name for name, _ in imported("autosched.models", ast.parse(source))
    ]
