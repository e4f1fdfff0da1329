"""bench/ keeps its three parts apart: phases, the harness they share, the chaos harness."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def imported_modules(package: str) -> dict[str, set[str]]:
    """For each module of ``bench/<package>``, the ``bench.*`` modules it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((BENCH / package).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[f"{package}/{path.name}"] = {name for name in names if name.startswith("bench")}
    return found


def test_chaos_harness_imports_no_benchmark_phase() -> None:
    offending = {
        module: sorted(name for name in names if name.startswith("bench.phases"))
        for module, names in imported_modules("chaos").items()
    }
    assert not any(offending.values()), offending


def test_shared_harness_imports_neither_phases_nor_chaos() -> None:
    offending = {
        module: sorted(name for name in names if not name.startswith("bench.harness"))
        for module, names in imported_modules("harness").items()
    }
    assert not any(offending.values()), offending
