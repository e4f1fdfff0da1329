"""warn_after_seconds: set, cleared and refused through every way a job is defined,
and running_runs' over_warning."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgsched.errors import InvalidJob
from pgsched.registration.registry import Job, sync_jobs
from tests.commands import add_job, invoke, one_error_line

Connection = psycopg.Connection[tuple[Any, ...]]


def warn_after(db: Connection, name: str) -> Any:
    row = db.execute(
        "SELECT warn_after_seconds FROM pgsched.jobs WHERE name = %s", [name]
    ).fetchone()
    assert row is not None
    return row[0]


def test_the_cli_sets_and_clears_it_and_refuses_a_negative_one(
    database_url: str, db: Connection
) -> None:
    assert invoke(database_url, "jobs", "add", "a", "@hourly", "sql", "SELECT 1").exit_code == 0
    assert warn_after(db, "a") is None
    assert invoke(database_url, "jobs", "edit", "a", "--warn-after", "60").exit_code == 0
    assert warn_after(db, "a") == 60
    assert '"warn_after_seconds": 60' in invoke(database_url, "jobs", "show", "a", "--json").output
    refused = one_error_line(invoke(database_url, "jobs", "edit", "a", "--warn-after", "-5"))
    assert "warn_after_seconds" in refused and warn_after(db, "a") == 60
    assert invoke(database_url, "jobs", "edit", "a", "--warn-after", "0").exit_code == 0
    assert warn_after(db, "a") is None


def test_python_registration_validates_and_syncs_it(database_url: str, db: Connection) -> None:
    for bad in (0, -1, 1.5, True, "60"):
        with pytest.raises(InvalidJob, match="warn_after_seconds must be an integer, positive"):
            Job(name="b", schedule="@hourly", kind="sql", target="SELECT 1", warn_after_seconds=bad)
    job = Job(name="b", schedule="@hourly", kind="sql", target="SELECT 1", warn_after_seconds=30)
    assert sync_jobs(database_url, [job]).created == ("b",)
    assert warn_after(db, "b") == 30
    report = sync_jobs(
        database_url, [Job(name="b", schedule="@hourly", kind="sql", target="SELECT 1")]
    )
    assert report.updated == {"b": ("warn_after_seconds",)}
    assert warn_after(db, "b") is None


def test_the_database_refuses_a_non_positive_one(db: Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="jobs_warn_after_seconds_check"):
        add_job(db, "c", warn_after_seconds=0)


def test_running_runs_flags_an_attempt_past_it(db: Connection) -> None:
    slow = add_job(db, "slow", warn_after_seconds=60)
    unbounded = add_job(db, "unbounded")
    for job_id, started in ((slow, "61 seconds"), (unbounded, "1 day")):
        db.execute(
            "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, claimed_at)"
            " SELECT id, name, now() - %s::interval, 'running', now() - %s::interval"
            "   FROM pgsched.jobs WHERE id = %s",
            [started, started, job_id],
        )
    fresh = add_job(db, "fresh", warn_after_seconds=60)
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, claimed_at)"
        " VALUES (%s, 'fresh', now(), 'running', now() - interval '59 seconds')",
        [fresh],
    )
    flagged = db.execute(
        "SELECT job_name, warn_after_seconds, over_warning FROM pgsched.running_runs"
        " ORDER BY job_name"
    ).fetchall()
    assert flagged == [("fresh", 60, False), ("slow", 60, True), ("unbounded", None, False)]


def test_a_change_of_it_alone_is_in_the_audit_trail(db: Connection) -> None:
    job_id = add_job(db, "d")
    db.execute("UPDATE pgsched.jobs SET warn_after_seconds = 90 WHERE id = %s", [job_id])
    change = db.execute(
        "SELECT change, old_values, new_values FROM pgsched.job_changes"
        " WHERE job_id = %s ORDER BY id DESC LIMIT 1",
        [job_id],
    ).fetchone()
    assert change == ("update", {"warn_after_seconds": None}, {"warn_after_seconds": 90})
