"""Logins for tests that act as someone other than the test server's superuser.

Roles are cluster-wide: each login gets a unique name and is dropped afterwards,
its sessions ended first.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg

Connection = psycopg.Connection[Any]


@contextlib.contextmanager
def new_login(
    db: Connection, database_url: str, *member_of: str, attributes: str = ""
) -> Iterator[str]:
    """A URL for a new login that is a member of ``member_of`` and nothing else.

    ``attributes`` are more of CREATE ROLE's options (``NOINHERIT``...). The login,
    and whatever it owns or was granted in this database, goes afterwards.
    """
    name = f"pgsched_test_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {name} LOGIN {attributes}")  # test data only
    for role in member_of:
        db.execute(f"GRANT {role} TO {name}")
    try:
        yield psycopg.conninfo.make_conninfo(database_url, user=name)
    finally:
        drop_role(db, name)


def drop_role(db: Connection, name: str) -> None:
    """End ``name``'s sessions, drop what it owns here, then the role itself."""
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


def user_of(url: str) -> str:
    """The login a URL connects as."""
    return str(psycopg.conninfo.conninfo_to_dict(url)["user"])
