"""The herd phase's poll sees a herd finished exactly when every slot was claimed and
every run ended, reading a few index entries rather than counting the runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

from bench.harness.database import HERD_OPEN, herd_finished

Connection = psycopg.Connection[tuple[Any, ...]]


def test_herd_is_open_until_every_job_is_claimed_and_every_run_ended(db: Connection) -> None:
    instant = db.execute("SELECT date_trunc('second', now())").fetchone()[0]  # type: ignore[index]
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)"
        " SELECT 'herd-' || n, '0 0 0 * * *', 'sql', 'SELECT 1', %s"
        "   FROM generate_series(1, 3) AS n",
        [instant],
    )
    assert not herd_finished(db, instant, "default")

    # Two of three claimed: their runs are running, the third job is still due.
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, queue)"
        " SELECT id, name, next_run, 'running', queue FROM pgsched.jobs WHERE name <> 'herd-3'"
    )
    db.execute(
        "UPDATE pgsched.jobs SET next_run = next_run + interval '1 day' WHERE name <> 'herd-3'"
    )
    assert not herd_finished(db, instant, "default")

    # All claimed; one run still running.
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, queue)"
        " SELECT id, name, next_run, 'running', queue FROM pgsched.jobs WHERE name = 'herd-3'"
    )
    db.execute(
        "UPDATE pgsched.jobs SET next_run = %s WHERE name = 'herd-3'", [instant + timedelta(days=1)]
    )
    db.execute(
        "UPDATE pgsched.runs SET status = 'succeeded', finished_at = now()"
        " WHERE job_name <> 'herd-3'"
    )
    assert not herd_finished(db, instant, "default")
    # Another queue's work is not the herd's.
    assert herd_finished(db, instant, "side")

    db.execute(
        "UPDATE pgsched.runs SET status = 'failed', finished_at = now() WHERE job_name = 'herd-3'"
    )
    assert herd_finished(db, instant, "default")


def test_herd_poll_reads_index_entries_only(db: Connection) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)"
        " SELECT 'herd-' || n, '0 0 0 * * *', 'sql', 'SELECT 1', now() + interval '1 day'"
        "   FROM generate_series(1, 5000) AS n"
    )
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, queue, finished_at)"
        " SELECT id, name, now(), 'succeeded', queue, now() FROM pgsched.jobs"
    )
    db.execute("ANALYZE pgsched.jobs")
    db.execute("ANALYZE pgsched.runs")
    cursor = psycopg.ClientCursor(db)
    explain = cursor.mogrify("EXPLAIN " + HERD_OPEN, {"instant": "2000-01-01", "queue": "default"})
    plan = "\n".join(row[0] for row in db.execute(explain))
    assert "Seq Scan" not in plan, plan
    # Nor without jobs_queue_due_idx, which the next release drops.
    db.execute("BEGIN")
    db.execute("DROP INDEX pgsched.jobs_queue_due_idx")
    plan = "\n".join(row[0] for row in db.execute(explain))
    db.execute("ROLLBACK")
    assert "Seq Scan" not in plan and "Sort" not in plan, plan
