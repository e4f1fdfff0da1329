"""Monitoring in SQL: cleanup_runs, toggle_job, run_now, the roles, and a comment on
every view and function."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from psycopg import errors

from tests.commands import add_job, database_now
from tests.monitoring import (
    DAY,
    HOUR,
    Connection,
    add_run,
    one,
    one_instant,
    totals_disagree_with_runs,
)

# -- cleanup_runs ---------------------------------------------------------------------------


def test_cleanup_runs_removes_old_finished_runs_in_batches_and_never_active_ones(
    db: Connection,
) -> None:
    add_job(db, "bulk")
    add_job(db, "gone")
    # 25,003 old finished runs of a live job: three statements of at most 10,000.
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, duration_ms)"
        " SELECT j.id, j.name, now() - interval '100 days' - n * interval '1 second',"
        "        (ARRAY['succeeded', 'failed', 'skipped', 'cancelled'])[n % 4 + 1],"
        "        now() - interval '100 days', now() - interval '100 days', 1"
        "   FROM pgsched.jobs AS j, generate_series(1, 25003) AS n WHERE j.name = 'bulk'"
    )
    now = database_now(db)
    add_run(db, "bulk", "pending", now - 200 * DAY)
    add_run(db, "bulk", "running", now - 201 * DAY)
    add_run(db, "bulk", "succeeded", now - 89 * DAY, duration_ms=1.0)
    # Slot before the cutoff, finished after it: kept.
    add_run(db, "bulk", "succeeded", now - 91 * DAY, lag=2 * DAY, duration_ms=1.0)
    for days in (95, 120):
        add_run(db, "gone", "failed", now - days * DAY, duration_ms=1.0)
    add_run(db, "gone", "succeeded", now - DAY, duration_ms=1.0)
    db.execute("DELETE FROM pgsched.jobs WHERE name = 'gone'")

    assert one(db, "SELECT pgsched.cleanup_runs()") == (25005,)
    left = db.execute(
        "SELECT job_name, status, count(*) FROM pgsched.runs GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert left == [
        ("bulk", "pending", 1),
        ("bulk", "running", 1),
        ("bulk", "succeeded", 2),
        ("gone", "succeeded", 1),
    ]
    assert one(db, "SELECT pgsched.cleanup_runs(90)") == (0,)
    assert one(db, "SELECT pgsched.cleanup_runs(0)") == (3,)
    assert one(db, "SELECT count(*) FROM pgsched.runs WHERE status IN ('pending', 'running')") == (
        2,
    )
    assert totals_disagree_with_runs(db) == []
    with pytest.raises(errors.InvalidParameterValue):
        db.execute("SELECT pgsched.cleanup_runs(-1)")


# -- toggle_job and run_now -----------------------------------------------------------------


def test_toggle_job_records_who_and_when_and_reports_unknown_jobs(db: Connection) -> None:
    add_job(db, "nightly", "0 3 * * *")
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() + interval '1 hour',"
        " updated_at = now() - interval '1 day', modified_by = 'someone'"
    )
    with one_instant(db) as now:
        assert one(db, "SELECT pgsched.toggle_job('nightly', false, 'alice')") == (True,)
        disabled = one(
            db, "SELECT enabled, modified_by, updated_at, next_run IS NOT NULL FROM pgsched.jobs"
        )
    assert disabled == (False, "alice", now, True)
    assert one(db, "SELECT pgsched.toggle_job('nightly', true)") == (True,)
    # Default modified_by is the caller; re-enabling leaves next_run for a worker to compute.
    assert one(db, "SELECT enabled, modified_by, next_run FROM pgsched.jobs") == (
        True,
        "postgres",
        None,
    )
    assert one(db, "SELECT pgsched.toggle_job('no-such-job', true)") == (False,)
    with pytest.raises(errors.NullValueNotAllowed):
        db.execute("SELECT pgsched.toggle_job('nightly', NULL)")


def test_run_now_queues_a_manual_run_and_refuses_unknown_or_invalid_jobs(db: Connection) -> None:
    add_job(db, "report", queue="reports")
    run_id = one(db, "SELECT pgsched.run_now('report')")[0]
    assert one(db, "SELECT status, trigger, queue FROM pgsched.runs WHERE id = %s", [run_id]) == (
        "pending",
        "manual",
        "reports",
    )
    with pytest.raises(errors.NoDataFound, match="no job named 'nope'"):
        db.execute("SELECT pgsched.run_now('nope')")
    db.execute("UPDATE pgsched.jobs SET last_error = 'unknown time zone ''Mars/Base'''")
    with pytest.raises(errors.ObjectNotInPrerequisiteState) as refused:
        db.execute("SELECT pgsched.run_now('report')")
    assert "job 'report' is invalid: unknown time zone 'Mars/Base'" in str(refused.value)


# -- roles ----------------------------------------------------------------------------------

VIEWS = (
    "recent_runs",
    "job_success_rates",
    "failed_runs",
    "running_runs",
    "workers_alive",
    "job_health",
    "missed_runs",
)


@contextmanager
def as_role(db: Connection, role: str) -> Iterator[None]:
    db.execute(f"SET ROLE {role}")  # test data only
    try:
        yield
    finally:
        db.execute("RESET ROLE")


def test_reader_reads_views_and_read_only_functions_and_nothing_else(db: Connection) -> None:
    add_job(db, "job")
    add_run(db, "job", "succeeded", database_now(db) - HOUR, duration_ms=5.0)
    with as_role(db, "pgsched_reader"):
        for view in VIEWS:
            db.execute(f"SELECT * FROM pgsched.{view}").fetchall()  # test data only
        assert one(db, "SELECT total_runs FROM pgsched.job_stats('job')") == (1,)
        assert len(db.execute("SELECT * FROM pgsched.job_timeline('job', 3)").fetchall()) == 3
        assert len(db.execute("SELECT * FROM pgsched.preview_runs('job', 2)").fetchall()) == 2
        db.execute("SELECT * FROM pgsched.scheduler_lag(5)")
        denied = [
            "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
            " VALUES ('x', '@daily', 'sql', 'SELECT 1')",
            "UPDATE pgsched.jobs SET enabled = false",
            "SELECT * FROM pgsched.runs",
            "SELECT * FROM pgsched.jobs",
            "SELECT pgsched.cleanup_runs(1)",
            "SELECT pgsched.toggle_job('job', false)",
            "SELECT pgsched.run_now('job')",
            "SELECT * FROM pgsched.reap_lost_runs()",
            "SELECT pgsched.retire_orphan_runs()",
            "SELECT pgsched.roll_recent_run_totals(current_date - 29)",
        ]
        for statement in denied:
            with pytest.raises(errors.InsufficientPrivilege):
                db.execute(statement)
    assert one(db, "SELECT count(*), bool_and(enabled) FROM pgsched.jobs") == (1, True)


def test_admin_registers_and_changes_jobs_and_calls_the_control_functions(
    db: Connection,
) -> None:
    with as_role(db, "pgsched_admin"):
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, timezone, kind, target)"
            " VALUES ('berlin', '@daily', 'Europe/Berlin', 'sql', 'SELECT 1')"
        )
        db.execute("UPDATE pgsched.jobs SET schedule = '@hourly' WHERE name = 'berlin'")
        db.execute("INSERT INTO pgsched.queue_limits (queue, max_running) VALUES ('reports', 2)")
        assert one(db, "SELECT pgsched.toggle_job('berlin', false)") == (True,)
        assert one(db, "SELECT modified_by FROM pgsched.jobs") == ("pgsched_admin",)
        db.execute("SELECT pgsched.run_now('berlin')")
        assert one(db, "SELECT pgsched.cleanup_runs(1)") == (0,)
        assert one(db, "SELECT count(*) FROM pgsched.recent_runs") == (1,)
        with pytest.raises(errors.InsufficientPrivilege):
            db.execute("DELETE FROM pgsched.runs")
        db.execute("DELETE FROM pgsched.jobs WHERE name = 'berlin'")
    assert one(db, "SELECT job_id, job_name FROM pgsched.runs") == (None, "berlin")


def test_every_view_and_function_has_a_comment(db: Connection) -> None:
    undocumented = db.execute(
        """
        SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'pgsched' AND c.relkind = 'v'
           AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname = 'pgsched' AND obj_description(p.oid, 'pg_proc') IS NULL
        """
    ).fetchall()
    assert undocumented == []
