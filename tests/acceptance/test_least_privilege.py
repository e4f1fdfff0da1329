"""The recommended production set-up (docs/security.md), built for real.

Five logins, one duty each: an owner that only migrates, a worker login holding
pgsched_worker, an admin, a reader, and a login of its own for sql jobs. A real worker
runs every kind of job on them; each login can do its duty and nothing beyond it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from pgsched.cli import cli
from pgsched.db import migrations
from tests.acceptance.conftest import Workers, scalar, wait_for
from tests.logins import drop_role, user_of

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
DUTIES = ("owner", "worker", "admin", "reader", "jobs")
RECORDED = "SELECT count(*) FROM pgsched.runs WHERE status NOT IN ('pending', 'running')"
OUTCOMES = "SELECT job_name, status || ' ' || coalesce(error, '') FROM pgsched.runs"


@dataclass(frozen=True)
class Deployment:
    """A URL per login, and the superuser's connection to the database."""

    urls: dict[str, str]
    superuser: Connection

    def connect(self, duty: str) -> Connection:
        return psycopg.connect(self.urls[duty], autocommit=True)

    def pgsched(self, duty: str, *args: str) -> Result:
        return CliRunner().invoke(cli, [*args, "--database-url", self.urls[duty]])


@pytest.fixture
def deployment(empty_database_url: str) -> Iterator[Deployment]:
    with psycopg.connect(empty_database_url, autocommit=True) as superuser:
        database = superuser.info.dbname
        names = {duty: f"pgsched_{duty}_{secrets.token_hex(3)}" for duty in DUTIES}
        roles = {"worker": "pgsched_worker", "admin": "pgsched_admin", "reader": "pgsched_reader"}
        for role in ("pgsched_reader", "pgsched_admin", "pgsched_worker"):
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                superuser.execute(f"CREATE ROLE {role} NOLOGIN")
        for duty, name in names.items():
            superuser.execute(f"CREATE ROLE {name} LOGIN")
            if duty in roles:
                superuser.execute(f"GRANT {roles[duty]} TO {name}")
        superuser.execute(f"GRANT CREATE ON DATABASE {database} TO {names['owner']}")
        # The application the sql jobs work on, and only what they need of it.
        superuser.execute("CREATE SCHEMA app")
        superuser.execute("CREATE TABLE app.counters (ticks int NOT NULL)")
        superuser.execute("INSERT INTO app.counters VALUES (0)")
        superuser.execute(f"GRANT USAGE ON SCHEMA app TO {names['jobs']}")
        superuser.execute(f"GRANT SELECT, UPDATE ON app.counters TO {names['jobs']}")
        urls = {
            duty: psycopg.conninfo.make_conninfo(empty_database_url, user=name)
            for duty, name in names.items()
        }
        try:
            yield Deployment(urls, superuser)
        finally:
            superuser.execute("DROP SCHEMA IF EXISTS pgsched, app CASCADE")
            for name in names.values():
                drop_role(superuser, name)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    """An internal HTTP service on loopback, which this deployment lets http jobs call."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping"
    server.shutdown()
    server.server_close()


def refused(connection: Connection, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute(statement)


def test_the_least_privilege_deployment_runs_every_kind_and_holds_each_login_to_its_duty(
    deployment: Deployment, service: str, tmp_path: Path
) -> None:
    migrations.upgrade(deployment.urls["owner"])
    jobs = {
        "python": ("python", "tests.acceptance.jobs:noop"),
        "shell": ("shell", "echo shell ran"),
        "sql": ("sql", "UPDATE app.counters SET ticks = ticks + 1"),
        "http": ("http", service),
    }
    for name, (kind, target) in jobs.items():
        added = deployment.pgsched("admin", "jobs", "add", name, "0 0 1 1 *", kind, target)
        assert added.exit_code == 0, added.output

    workers = Workers(deployment.urls["worker"], tmp_path)
    try:
        workers.start(
            "--allow-shell",
            "--allow-sql",
            "--sql-database-url",
            deployment.urls["jobs"],
            "--http-allow",
            "127.0.0.1",
        )
        with deployment.connect("admin") as admin:
            wait_for(lambda: scalar(admin, "SELECT count(*) FROM pgsched.workers"), what="worker")
            for name in jobs:
                admin.execute("SELECT pgsched.run_now(%s)", [name])
            wait_for(lambda: scalar(admin, RECORDED) == len(jobs), what="every kind's run recorded")
            outcomes = dict(admin.execute(OUTCOMES).fetchall())
        assert outcomes == {name: "succeeded " for name in jobs}, (outcomes, workers.logs())
        reaped = deployment.pgsched("worker", "reap")
        assert reaped.exit_code == 0, reaped.output
        assert workers.stop_all() == [0]
    finally:
        workers.stop_all()
    assert scalar(deployment.superuser, "SELECT ticks FROM app.counters") == 1

    owner = user_of(deployment.urls["owner"])
    superuser = deployment.superuser
    # Everything belongs to the owner, and every function runs on a pinned search path.
    assert scalar(
        superuser,
        "SELECT array_agg(DISTINCT pg_get_userbyid(proowner)) FROM pg_proc"
        " WHERE pronamespace = 'pgsched'::regnamespace",
    ) == [owner]
    assert (
        scalar(
            superuser,
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgsched'::regnamespace"
            " AND NOT coalesce(proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']",
        )
        == 0
    )

    with deployment.connect("worker") as worker:
        for statement in (
            "CREATE OR REPLACE FUNCTION pgsched.timezone_error(timezone text) RETURNS text"
            " LANGUAGE sql AS $$ SELECT NULL::text $$",
            "CREATE FUNCTION pgsched.mine() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
            "ALTER TABLE pgsched.jobs ADD COLUMN mine int",
            "UPDATE pgsched.jobs SET target = 'SELECT 2' WHERE name = 'sql'",
            "DELETE FROM pgsched.runs",
            "INSERT INTO pgsched.job_changes (job_name, change, changed_by)"
            " VALUES ('sql', 'update', 'someone')",
        ):
            refused(worker, statement)
    with deployment.connect("admin") as admin:
        for statement in (
            "UPDATE pgsched.jobs SET checkpoint = '1' WHERE name = 'python'",
            "UPDATE pgsched.jobs SET next_run = now() WHERE name = 'python'",
            "UPDATE pgsched.job_changes SET changed_by = 'someone'",
            "SELECT pgsched.record_job_change(1, 'sql', 'update', NULL, NULL)",
            "CREATE FUNCTION pgsched.mine() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
        ):
            refused(admin, statement)
    with deployment.connect("jobs") as jobs_login:
        refused(jobs_login, "UPDATE pgsched.jobs SET target = 'SELECT 2'")
        refused(jobs_login, "SELECT * FROM pgsched.job_changes")
    with deployment.connect("reader") as reader:
        assert scalar(reader, "SELECT count(*) FROM pgsched.recent_runs") == len(jobs)
        refused(reader, "SELECT * FROM pgsched.runs")
        refused(reader, "SELECT pgsched.retry_run(1)")
    with deployment.connect("admin") as admin:
        sql_run = scalar(admin, "SELECT id FROM pgsched.runs WHERE job_name = 'sql'")
    replayed = deployment.pgsched("admin", "runs", "retry", str(sql_run))
    assert replayed.exit_code == 0 and "queued" in replayed.output, replayed.output

    history = deployment.pgsched("admin", "jobs", "history", "sql", "--json")
    assert history.exit_code == 0, history.output
    changes = json.loads(history.output)
    assert [change["change"] for change in changes] == ["insert", "run_now", "retry_run"]
    assert {change["changed_by"] for change in changes} == {user_of(deployment.urls["admin"])}
    assert deployment.pgsched("reader", "jobs", "history", "sql").exit_code == 1
