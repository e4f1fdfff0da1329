"""Which database a command's reads and writes go to, and the session it works on.

Every command opens its session here, saying whether it only reads: that choice,
and nothing else, decides which URL it connects to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import DictRow

from pgsched.config import Settings
from pgsched.db import migrations
from pgsched.db.connection import resolve_database_url, session
from pgsched.db.queries import pasteable, query

APPLICATION_NAME = "pgsched-cli"

Connection = psycopg.Connection[DictRow]
R = TypeVar("R")


class Access(StrEnum):
    """What a command does with the database."""

    READ = "read"
    WRITE = "write"


def database_url(settings: Settings, access: Access) -> str:
    """The URL a command of this ``access`` connects to.

    Writes go to the configured database (or the embedded one); reads go to the read
    URL (``--read-database-url``, ``PGSCHED_READ_DATABASE_URL``: a replica, say) when
    one is configured. Reads there may trail the primary by the replica's lag;
    whatever judges liveness from them accounts for it (``pgsched.replica_lag()``).
    """
    if access is Access.READ and settings.read_database_url:
        return settings.read_database_url
    return resolve_database_url(settings)


@contextmanager
def open_session(
    settings: Settings, access: Access, application_name: str = APPLICATION_NAME
) -> Iterator[Connection]:
    """An autocommit dict-row session whose schema must be current (else
    ``SchemaNotMigrated``); database errors become pgsched errors."""
    with session(database_url(settings, access), application_name) as connection:
        migrations.require_current_on(connection)
        yield connection


def fetch_all(
    connection: Connection, name: str, params: dict[str, Any] | None = None, *, row: type[R]
) -> list[R]:
    """Every row of the named block ``name``, as ``row`` (a ``TypedDict`` of its columns)."""
    return cast(list[R], connection.execute(query(name), params).fetchall())


def fetch_one(
    connection: Connection, name: str, params: dict[str, Any] | None = None, *, row: type[R]
) -> R | None:
    """The first row of the named block ``name`` as ``row``, or None when it answers none."""
    return cast(R | None, connection.execute(query(name), params).fetchone())


def fetch_single(
    connection: Connection, name: str, params: dict[str, Any] | None = None, *, row: type[R]
) -> R:
    """The row of a block that always answers exactly one (an aggregate, a function call)."""
    found = fetch_one(connection, name, params, row=row)
    assert found is not None, f"{name} answers one row"
    return found


def execute(connection: Connection, name: str, params: dict[str, Any] | None = None) -> int:
    """Run the named block ``name``; the number of rows it touched."""
    return connection.execute(query(name), params).rowcount


def sql_for_psql(name: str, params: dict[str, Any]) -> str:
    """The named block ``name`` with ``params`` written in as literals: what a user can
    paste into psql to see what a caller saw (the dashboard's "Show SQL")."""
    return pasteable(name, params)
