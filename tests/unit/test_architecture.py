"""The package reads like the design: commands -> catalog -> SQL, worker -> repository -> SQL.

Imports are read from the source (``ast``), so the checks cost nothing and see
imports made inside functions too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pgsched"
# Modules that may run the named SQL blocks of sql/queries/: the catalog (through
# its sessions module), the worker's session (under its repository), the migrations'
# version check, the sql executor's check of the sessions jobs' SQL runs on, and the
# pooler detection and session reset that worker, listener and sql executor share.
QUERY_RUNNERS = {
    "pgsched.catalog.sessions",
    "pgsched.engine.session",
    "pgsched.db.migrations",
    "pgsched.db.pooling",
    "pgsched.executors.sql",
}
# Longest module, in lines; a module past it does more than one thing.
MAX_MODULE_LINES = 400


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported_names(module: str) -> Iterator[str]:
    """Every dotted name ``module`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports."""
    return {name for name in imported_names(module) if name in modules() and name != module}


def importers_of(prefixes: tuple[str, ...], target: str) -> set[str]:
    """Modules under ``prefixes`` that import ``target`` (or anything under it)."""
    return {
        module
        for module in modules()
        if module.startswith(prefixes)
        if any(name == target or name.startswith(target + ".") for name in imported_names(module))
    }


def cycles() -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    graph = {module: imports(module) for module in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_only_the_catalog_the_repository_and_migrations_run_named_queries() -> None:
    runners = importers_of(("pgsched",), "pgsched.db.queries")
    assert runners <= QUERY_RUNNERS, runners - QUERY_RUNNERS


def test_commands_reach_the_database_only_through_the_catalog() -> None:
    for forbidden in (
        "psycopg",
        "sqlalchemy",
        "pgsched.db.queries",
        "pgsched.db.connection.session",
        "pgsched.db.connection.connect",
    ):
        assert not importers_of(("pgsched.commands", "pgsched.cli"), forbidden), forbidden


def test_the_catalog_knows_nothing_of_commands_engine_or_click() -> None:
    for forbidden in ("click", "pgsched.commands", "pgsched.cli", "pgsched.engine", "pgsched.demo"):
        assert not importers_of(("pgsched.catalog",), forbidden), forbidden


def test_the_engine_does_not_use_the_command_side() -> None:
    for forbidden in (
        "click",
        "pgsched.catalog",
        "pgsched.commands",
        "pgsched.registration",
        "pgsched.demo",
    ):
        assert not importers_of(("pgsched.engine", "pgsched.executors"), forbidden), forbidden


def test_no_import_cycles() -> None:
    assert not cycles()


def test_no_module_is_over_the_length_limit() -> None:
    too_long = {}
    for module, path in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            too_long[module] = lines
    assert not too_long
