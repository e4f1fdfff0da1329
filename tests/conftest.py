"""Test databases: one server per session, one fresh database per test.

The server is, in order: ``PGSCHED_TEST_DATABASE_URL`` when set (``embedded``
forces the next option), the local server on 127.0.0.1:5432 when it answers, or a
throwaway embedded server started here and deleted afterwards. Database tests are
never skipped for lack of a server.

Each test gets its own database cloned from a template migrated once per session.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from pgsched.db import embedded, migrations

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Under pytest-xdist (-n 4 --dist loadscope) every acceptance test runs in one test
# process, one at a time: real workers are timed against their leases and should not
# compete with each other for the CPU. The other tests go by module, as loadscope does,
# so a module's fixtures are built once.
ACCEPTANCE = "tests/acceptance/"
TEST_DATABASE_ENV = "PGSCHED_TEST_DATABASE_URL"


class _AcceptanceTogether:
    """The xdist scheduler of ``--dist loadscope``, with all acceptance tests one scope."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class Scheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                if nodeid.startswith(ACCEPTANCE):
                    return ACCEPTANCE
                return str(super()._split_scope(nodeid))

        return Scheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    # Registered only where xdist runs, whose hook this is.
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_AcceptanceTogether())


def _local_server_answers() -> bool:
    try:
        psycopg.connect(LOCAL_SERVER_URL, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL to a database on the session's server, for creating test databases."""
    chosen = os.environ.get(TEST_DATABASE_ENV, "")
    if chosen and chosen != "embedded":
        yield chosen
        return
    if not chosen and _local_server_answers():
        yield LOCAL_SERVER_URL
        return
    with embedded.throwaway_server(prefix="pgsched-test-pg-") as url:
        yield url


def database_url_for(server: str, name: str) -> str:
    """The URL of database ``name`` on the same server as ``server``."""
    return conninfo.make_conninfo(server, dbname=name)


@contextlib.contextmanager
def scratch_database(server: str, template: str | None = None) -> Iterator[str]:
    """Create a uniquely named database (optionally from a template) and drop it after."""
    name = f"pgsched_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        clause = f" TEMPLATE {template}" if template else ""
        admin.execute(f"CREATE DATABASE {name}{clause}")
    try:
        yield database_url_for(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """The name of a database migrated to head, cloned by every test that needs one."""
    with scratch_database(server_url) as url:
        migrations.upgrade(url)
        yield conninfo.conninfo_to_dict(url)["dbname"]  # type: ignore[misc]


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """A fresh database with the pgsched schema at head, for this test only."""
    with scratch_database(server_url, template=template_database) as url:
        yield url


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A fresh database with no pgsched objects, for this test only."""
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to this test's migrated database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
