"""The PostgreSQL server the benchmark uses, and scratch databases on it.

The server is ``--database-url``, else ``$PGSCHED_BENCH_DATABASE_URL``, else a
throwaway embedded server started here and deleted afterwards: never a shared
server whose settings the benchmark does not control (the machine's 127.0.0.1:5432
runs with ``autovacuum = off``, unlike any production server). Whichever it is,
``settings_findings`` reads the settings that change the figures and says what
differs from production.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import conninfo, sql

from pgsched.db import embedded, migrations

BENCH_DATABASE_ENV = "PGSCHED_BENCH_DATABASE_URL"
# Settings a production server has; a benchmark on a server without them measures
# something else (dead rows never vacuumed, commits that never reach the disk).
PRODUCTION_SETTINGS = {"autovacuum": "on", "fsync": "on", "synchronous_commit": "on"}
# Read and reported, not judged: they size the figures.
REPORTED_SETTINGS = ("server_version", "shared_buffers", "max_connections", "work_mem")


@contextlib.contextmanager
def server_url(explicit: str | None) -> Iterator[str]:
    """A URL of a database on the chosen server, for creating scratch databases."""
    chosen = explicit or os.environ.get(BENCH_DATABASE_ENV)
    if chosen:
        yield chosen
        return
    with embedded.throwaway_server(prefix="pgsched-bench-pg-") as url:
        yield url


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new database with pgsched's schema at head, dropped (with FORCE) afterwards."""
    name = f"pgsched_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = conninfo.make_conninfo(server, dbname=name)
        migrations.upgrade(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def server_settings(server: str) -> dict[str, str]:
    """The server's settings that matter to the figures, by name."""
    names = [*PRODUCTION_SETTINGS, *REPORTED_SETTINGS]
    with psycopg.connect(server, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [names]
        ).fetchall()
    return dict(rows)


def settings_findings(settings: dict[str, str]) -> list[str]:
    """One warning per setting that differs from a production server."""
    return [
        f"the server runs with {name} = {settings.get(name)} (production: {wanted}): "
        "its figures do not describe a production server"
        for name, wanted in PRODUCTION_SETTINGS.items()
        if settings.get(name) != wanted
    ]
