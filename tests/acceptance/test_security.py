"""What a worker keeps from jobs and what it refuses: secrets, superuser SQL, forbidden code.

Secrets reach a worker through its environment only. They must never be written to
runs, logs or errors, and job arguments are data, never spliced into SQL or a shell.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from tests.acceptance import conftest as acceptance
from tests.acceptance.conftest import Workers, scalar, wait_for, wait_until_registered

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
NEVER = "0 0 1 1 *"


def add_job(db: Connection, name: str, kind: str, target: str, **args: Any) -> None:
    acceptance.add_job(db, name, target, NEVER, kind=kind, args=args)


def run_all_and_wait(db: Connection) -> dict[str, tuple[str, str | None, str | None]]:
    wait_until_registered(db)
    db.execute("SELECT pgsched.run_now(name) FROM pgsched.jobs")
    jobs = scalar(db, "SELECT count(*) FROM pgsched.jobs")
    wait_for(
        lambda: (
            scalar(
                db, "SELECT count(*) FROM pgsched.runs WHERE status NOT IN ('pending', 'running')"
            )
            == jobs
        ),
        what="every job's run recorded",
    )
    return {
        row[0]: row[1:]
        for row in db.execute("SELECT job_name, status, output, error FROM pgsched.runs")
    }


def test_secrets_in_the_workers_environment_never_reach_runs_or_logs(
    workers: Workers, db: Connection
) -> None:
    database_password = f"db-{secrets.token_hex(8)}"
    api_token = f"tok-{secrets.token_hex(8)}"
    environment = {
        "PGSCHED_SQL_DATABASE_URL": f"postgresql://nobody:{database_password}@127.0.0.1:1/x",
        "BILLING_API_TOKEN": api_token,
    }
    add_job(db, "python-env", "python", "tests.jobtargets.environment:listing")
    add_job(db, "sql-elsewhere", "sql", "SELECT 1")  # on PGSCHED_SQL_DATABASE_URL: refused
    add_job(db, "shell-env", "shell", "env")
    add_job(
        db,
        "http-with-secret",
        "http",
        "http://127.0.0.1:9/charge",
        headers={"Authorization": "Bearer ${env:BILLING_API_TOKEN}"},
    )
    add_job(
        db,
        "http-hidden",
        "http",
        "http://127.0.0.1:9/charge",
        headers={"X-Db": "${env:PGSCHED_SQL_DATABASE_URL}"},
    )
    workers.start(
        "--allow-shell",
        "--allow-sql",
        "--hide-env",
        "*_TOKEN",
        "--log-level",
        "debug",
        environment=environment,
    )
    recorded = run_all_and_wait(db)
    assert workers.stop_all() == [0]

    assert recorded["python-env"][0] == "succeeded" and recorded["shell-env"][0] == "succeeded"
    assert "PGSCHED_" not in (recorded["python-env"][1] or "")
    assert "BILLING_API_TOKEN" not in (recorded["shell-env"][1] or "")
    assert "does not give to http jobs" in (recorded["http-hidden"][2] or "")
    assert recorded["sql-elsewhere"][0] == "failed"
    assert "could not get a database connection" in (recorded["sql-elsewhere"][2] or "")
    # No --http-secret names the token: refused, and named only.
    assert "BILLING_API_TOKEN" in (recorded["http-with-secret"][2] or "")
    everything = json.dumps(recorded) + workers.logs()
    assert database_password not in everything
    assert api_token not in everything


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 and keeps each request's Authorization header."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/charge", _Recorder.seen
    server.shutdown()
    server.server_close()


def test_a_referenced_secret_is_sent_but_never_recorded(
    workers: Workers, db: Connection, recording_server: tuple[str, list[str]]
) -> None:
    url, seen = recording_server
    api_token = f"tok-{secrets.token_hex(8)}"
    add_job(
        db,
        "http-with-secret",
        "http",
        url,
        method="POST",
        headers={"Authorization": "Bearer ${env:BILLING_API_TOKEN}"},
    )
    workers.start(
        "--http-allow",
        "127.0.0.1",
        "--http-secret",
        "BILLING_API_TOKEN=127.0.0.1",
        "--log-level",
        "debug",
        environment={"BILLING_API_TOKEN": api_token},
    )
    recorded = run_all_and_wait(db)
    assert workers.stop_all() == [0]
    assert recorded["http-with-secret"][0] == "succeeded"
    assert seen == [f"Bearer {api_token}"]
    assert api_token not in json.dumps(recorded) + workers.logs()


@pytest.fixture
def job_login(db: Connection, database_url: str) -> Iterator[str]:
    """A login of its own for sql jobs, which may read the runs and nothing else."""
    name = f"pgsched_jobs_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {name} LOGIN")
    db.execute(f"GRANT pgsched_reader TO {name}")
    yield psycopg.conninfo.make_conninfo(database_url, user=name)
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


def test_sql_jobs_refuse_a_superuser_login_and_run_on_a_login_of_their_own(
    workers: Workers, db: Connection, job_login: str
) -> None:
    add_job(db, "who", "sql", "SELECT current_user")
    add_job(db, "escalate", "sql", "DELETE FROM pgsched.jobs")
    workers.start("--allow-sql")  # the test server's login is a superuser
    refused = run_all_and_wait(db)
    assert workers.stop_all() == [0]
    assert {name: status for name, (status, _, _) in refused.items()} == {
        "who": "failed",
        "escalate": "failed",
    }
    assert "--sql-database-url" in (refused["who"][2] or "")

    db.execute("DELETE FROM pgsched.runs")
    workers.start("--allow-sql", "--sql-database-url", job_login)
    recorded = run_all_and_wait(db)
    assert workers.stop_all() == [0, 0]
    login = psycopg.conninfo.conninfo_to_dict(job_login)["user"]
    assert recorded["who"][0] == "succeeded" and str(login) in (recorded["who"][1] or "")
    assert recorded["escalate"][0] == "failed"
    assert "permission denied" in (recorded["escalate"][2] or "")
    assert scalar(db, "SELECT count(*) FROM pgsched.jobs") == 2


def test_forbidden_code_is_never_started_and_args_are_only_data(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    add_job(db, "shell-off", "shell", f"touch {marker}")
    add_job(db, "not-allowed", "python", "json:dumps", obj=1)
    hostile = "'; DROP TABLE pgsched.jobs; -- $(touch /tmp/x) `id`"
    add_job(db, "hostile-args", "python", "tests.jobtargets.echo:echo", text=hostile)
    workers.start()  # neither --allow-shell nor a prefix that allows json
    recorded = run_all_and_wait(db)
    assert workers.stop_all() == [0]
    assert recorded["shell-off"][0] == "failed" and "--allow-shell" in recorded["shell-off"][2]
    assert not marker.exists()
    assert recorded["not-allowed"][0] == "failed" and "not allowed" in recorded["not-allowed"][2]
    assert recorded["hostile-args"] == ("succeeded", f"return: {hostile!r}", None)
    assert scalar(db, "SELECT count(*) FROM pgsched.jobs") == 3
