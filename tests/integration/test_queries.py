"""Every named SQL block parses and plans on a migrated database, and is used.

A block that no longer matches the schema (a renamed column, a dropped function, a
parameter whose type cannot be told) fails here in seconds, rather than in the
acceptance run that happens to reach it. Each block is prepared on the server with
its parameters untyped, as psycopg sends text, then planned with NULL for each
parameter (``EXPLAIN EXECUTE``): nothing is executed.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import pq

from pgsched.db.queries import all_queries
from tests.conftest import scratch_database

PACKAGE = Path(__file__).resolve().parents[2] / "pgsched"
PARAMETER = re.compile(r"%%|%\((\w+)\)s")
FETCHES = {"fetch_all", "fetch_one", "fetch_single"}


def positional(block: str) -> tuple[str, list[str]]:
    """``block`` with its ``%(name)s`` parameters as ``$1, $2...`` (one per name), and
    the names in that order."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return PARAMETER.sub(replace, block), names


@contextmanager
def prepared(connection: psycopg.Connection, name: str) -> Iterator[pq.abc.PGresult]:
    """Block ``name`` prepared on the server, described (parameters, result columns)."""
    text, _ = positional(all_queries()[name])
    pgconn = connection.pgconn
    result = pgconn.prepare(name.encode(), text.encode())
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise AssertionError(f"{name} does not parse: {result.error_message.decode()}")
    try:
        description = pgconn.describe_prepared(name.encode())
        assert description.status == pq.ExecStatus.COMMAND_OK, description.error_message
        yield description
    finally:
        connection.rollback()
        connection.execute(f"DEALLOCATE {name}")


@pytest.fixture(scope="module")
def connection(server_url: str, template_database: str) -> Iterator[psycopg.Connection]:
    """One migrated database for the module: nothing here writes."""
    with (
        scratch_database(server_url, template=template_database) as url,
        psycopg.connect(url, autocommit=True) as opened,
    ):
        yield opened


@pytest.mark.parametrize("name", sorted(all_queries()))
def test_every_named_block_parses_and_plans(connection: psycopg.Connection, name: str) -> None:
    with prepared(connection, name) as description:
        nulls = ", ".join("NULL" for _ in range(description.nparams))
        call = f"{name}({nulls})" if nulls else name
        try:
            connection.execute(f"EXPLAIN (COSTS OFF) EXECUTE {call}")
        except psycopg.Error as exc:
            raise AssertionError(f"{name} does not plan: {exc}") from exc


def fetch_calls() -> Iterator[tuple[str, ast.Call]]:
    """``(module, call)`` for each call of a ``fetch_*`` function in the catalog (but
    in ``sessions``, which defines them)."""
    for path in sorted((PACKAGE / "catalog").glob("*.py")):
        if path.stem == "sessions":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id in FETCHES:
                yield f"pgsched.catalog.{path.stem}", node


def catalog_fetches() -> Iterator[tuple[str, str, type]]:
    """``(module, block, row type)`` for each ``fetch_*(connection, "block", ..., row=T)``
    in the catalog, read from its source."""
    for module, call in fetch_calls():
        block, rows = call.args[1], [k.value for k in call.keywords if k.arg == "row"]
        if isinstance(block, ast.Constant) and rows and isinstance(rows[0], ast.Name):
            namespace = vars(__import__(module, fromlist=["_"]))
            yield module, block.value, namespace[rows[0].id]


CATALOG_FETCHES = sorted(catalog_fetches(), key=lambda fetch: fetch[:2])


@pytest.mark.parametrize(
    ("module", "block", "row"),
    CATALOG_FETCHES,
    ids=[f"{module.rpartition('.')[2]}:{block}" for module, block, _ in CATALOG_FETCHES],
)
def test_every_column_a_catalog_row_promises_is_one_its_block_returns(
    connection: psycopg.Connection, module: str, block: str, row: type
) -> None:
    with prepared(connection, block) as description:
        columns = {description.fname(i).decode() for i in range(description.nfields)}
    promised = set(typing.get_type_hints(row))
    assert promised <= columns, f"{row.__name__} promises {sorted(promised - columns)}"


def test_every_catalog_fetch_names_its_block_and_row_type_literally() -> None:
    # What the test above checks is read from these calls: each must be readable.
    assert len(CATALOG_FETCHES) == len(list(fetch_calls()))


def test_every_named_block_is_used_by_the_code() -> None:
    sources = "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py"))
    unused = [name for name in all_queries() if f'"{name}"' not in sources]
    assert not unused
