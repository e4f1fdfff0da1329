"""The PostgreSQL server the benchmark uses, and scratch databases on it.

The server is, in order: ``--database-url``, ``$PGSCHED_BENCH_DATABASE_URL``, the
local server on 127.0.0.1:5432 when it answers, or a throwaway embedded server
started here and deleted afterwards (as ``tests/conftest.py`` does).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import conninfo, sql

from pgsched.db import embedded, migrations

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE_ENV = "PGSCHED_BENCH_DATABASE_URL"


def _local_server_answers() -> bool:
    try:
        psycopg.connect(LOCAL_SERVER_URL, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@contextlib.contextmanager
def server_url(explicit: str | None) -> Iterator[str]:
    """A URL of a database on the chosen server, for creating scratch databases."""
    chosen = explicit or os.environ.get(BENCH_DATABASE_ENV)
    if chosen:
        yield chosen
        return
    if _local_server_answers():
        yield LOCAL_SERVER_URL
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
