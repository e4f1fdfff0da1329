"""The catalog without click: what commands (and the web app) call, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pgsched.catalog import demo, jobs, maintenance, runs, workers
from pgsched.catalog.sessions import Access, Connection, open_session
from pgsched.config import Settings
from pgsched.db.connection import session
from pgsched.db.schema import JOB_DEFAULTS
from pgsched.demo.catalog import demo_jobs
from pgsched.errors import JobNotFound, JobRunning, PgschedError, SchemaNotMigrated
from pgsched.registration.registry import Job, create_job
from tests.commands import add_job, add_worker


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    with session(database_url, "pgsched-test") as opened:
        yield opened


def test_functions_run_inside_the_callers_transaction_under_the_callers_role(
    connection: Connection,
) -> None:
    create_job(connection, Job(name="report", schedule="@hourly", kind="sql", target="SELECT 1"))
    with connection.transaction():
        connection.execute("SET LOCAL ROLE pgsched_reader")
        assert runs.success_rates(connection) == []
        assert runs.job_stats(connection, "report")["total_runs"] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            jobs.set_enabled(connection, "report", False)
    assert jobs.job_facts(connection, "report")["enabled"] is True


def test_a_removed_running_job_reports_what_still_runs_and_waits(
    connection: Connection, db: psycopg.Connection
) -> None:
    job_id = add_job(db, "report")
    running = db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at)"
        " VALUES (%s, 'report', now(), 'running', now()) RETURNING id",
        [job_id],
    ).fetchone()
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status)"
        " VALUES (%s, 'report', now() - interval '1 hour', 2, 'pending')",
        [job_id],
    )
    assert running is not None
    with pytest.raises(JobRunning):
        jobs.remove_job(connection, "report")
    removed = jobs.remove_job(connection, "report", force=True)
    assert removed == jobs.RemovedJob("report", (running[0],), 1)
    with pytest.raises(JobNotFound):
        jobs.remove_job(connection, "report")


def test_waiting_for_a_manual_run_gives_up_at_its_timeout(
    connection: Connection, db: psycopg.Connection
) -> None:
    add_job(db, "report")
    run_id = jobs.run_now(connection, "report")
    assert runs.slot_outcome(connection, run_id) == {
        "id": run_id,
        "attempt": 1,
        "status": "pending",
        "duration_ms": None,
        "error": None,
    }
    with pytest.raises(PgschedError, match=f"run {run_id} is still pending after 0.1 s"):
        runs.wait_for_slot(connection, run_id, timeout_seconds=0.1, poll_seconds=0.02)
    db.execute(
        "UPDATE pgsched.runs SET status = 'succeeded', duration_ms = 5 WHERE id = %s", [run_id]
    )
    assert runs.wait_for_slot(connection, run_id)["status"] == "succeeded"


def test_history_of_an_unknown_job_is_job_not_found(connection: Connection) -> None:
    for read in (
        lambda: runs.list_runs(connection, job="nope"),
        lambda: runs.job_stats(connection, "nope"),
        lambda: runs.job_timeline(connection, "nope"),
        lambda: jobs.run_now(connection, "nope"),
        lambda: jobs.set_enabled(connection, "nope", True),
    ):
        with pytest.raises(JobNotFound, match="no job named 'nope'"):
            read()


def test_reap_reports_lost_runs_their_retries_and_orphans(
    connection: Connection, db: psycopg.Connection
) -> None:
    job_id = add_job(db, "report", max_attempts=2)
    add_worker(db, "gone", heartbeat_age=timedelta(minutes=5))
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, worker_id, started_at)"
        " VALUES (%s, 'report', now(), 'running', 'gone', now())",
        [job_id],
    )
    reaped = maintenance.reap(connection)
    assert [run["worker_id"] for run in reaped.lost_runs] == ["gone"]
    assert reaped.retries_queued == 1
    assert [worker["state"] for worker in workers.list_workers(connection, include_gone=True)] == [
        "stopped"
    ]
    assert workers.list_workers(connection) == []


def test_a_session_refuses_a_schema_that_is_not_current(empty_database_url: str) -> None:
    settings = Settings(database_url=empty_database_url, home=Settings.load().home)
    with pytest.raises(SchemaNotMigrated), open_session(settings, Access.READ):
        pass


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", runs.Since(seconds=5400)),
        ("1h30m", runs.Since(seconds=5400)),
        ("2026-03-01", runs.Since(at=datetime(2026, 3, 1, tzinfo=UTC))),
    ],
)
def test_since_reads_durations_and_dates(text: str, expected: runs.Since) -> None:
    assert runs.parse_since(text) == expected


def test_since_refuses_what_is_neither() -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        runs.parse_since("yesterday")


def test_running_the_demo_again_brings_its_jobs_back_to_their_definition(
    connection: Connection, db: psycopg.Connection
) -> None:
    definitions = [job.parameters() for job in demo_jobs("http://127.0.0.1:9/")]
    demo.upsert_jobs(connection, definitions)
    db.execute(
        "UPDATE pgsched.jobs SET enabled = false, timezone = 'Europe/Berlin', overlap = 'allow',"
        " misfire = 'skip', misfire_threshold_seconds = 5, priority = 3, timeout_seconds = 99"
        " WHERE name = 'demo-hello'"
    )
    demo.upsert_jobs(connection, definitions)
    row = db.execute(
        "SELECT enabled, timezone, overlap, misfire, misfire_threshold_seconds, priority,"
        " timeout_seconds, queue FROM pgsched.jobs WHERE name = 'demo-hello'"
    ).fetchone()
    defaults = JOB_DEFAULTS
    assert row == (
        True,
        defaults.timezone,
        defaults.overlap,
        defaults.misfire,
        defaults.misfire_threshold_seconds,
        defaults.priority,
        10,
        "demo",
    )
