"""Helpers of the monitoring tests: runs inserted at fixed offsets from the database
clock, so every figure is asserted exactly. Where a figure depends on now() (windows,
hour buckets, durations so far), the fixture and the query share one transaction and
so one now() (``one_instant``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg

from tests.commands import database_now

Connection = psycopg.Connection[tuple[Any, ...]]

COUNTED = ("succeeded", "failed", "timed_out", "lost")
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def add_run(
    db: Connection,
    job: str,
    status: str,
    slot: datetime,
    *,
    lag: timedelta = timedelta(0),
    duration_ms: float | None = None,
    **columns: Any,
) -> int:
    """A run of the job named ``job`` at ``slot``; started ``lag`` after it unless
    pending or skipped, and finished ``duration_ms`` later when it has an outcome."""
    started = None if status in ("pending", "skipped") else slot + lag
    finished = None
    if status not in ("pending", "running"):
        finished = (started or slot) + timedelta(milliseconds=duration_ms or 0)
    row = {
        "job_id": _job_id(db, job),
        "job_name": job,
        "scheduled_for": slot,
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "duration_ms": duration_ms,
        **columns,
    }
    names = ", ".join(row)
    marks = ", ".join(f"%({column})s" for column in row)
    found = db.execute(
        f"INSERT INTO pgsched.runs ({names}) VALUES ({marks}) RETURNING id",  # test data only
        row,
    ).fetchone()
    assert found is not None
    return int(found[0])


def _job_id(db: Connection, name: str) -> int | None:
    found = db.execute("SELECT id FROM pgsched.jobs WHERE name = %s", [name]).fetchone()
    return None if found is None else int(found[0])


@contextmanager
def one_instant(db: Connection) -> Iterator[datetime]:
    """A transaction, and its now(): fixture and queries see the same clock."""
    with db.transaction():
        yield database_now(db)


def one(db: Connection, sql: str, params: Any = None) -> tuple[Any, ...]:
    found = db.execute(sql, params).fetchone()
    assert found is not None
    return found


def register_worker(
    db: Connection, worker_id: str, *, silent_for: timedelta, lease: int = 30, stopped: bool = False
) -> None:
    db.execute(
        "INSERT INTO pgsched.workers (id, host, pid, queues, concurrency, lease_seconds,"
        " last_heartbeat_at, stopped_at) VALUES (%s, 'host-' || %s, 4242, '{default,reports}',"
        " 10, %s, now() - %s, CASE WHEN %s THEN now() END)",
        [worker_id, worker_id, lease, silent_for, stopped],
    )


def totals_disagree_with_runs(db: Connection) -> list[tuple[Any, ...]]:
    """Rows where the totals differ from a count of the runs (none expected): daily
    totals against the runs, recent totals against the days from first_day up to,
    not including, next_day."""
    return db.execute(
        f"""
        WITH counted AS (
            SELECT (scheduled_for AT TIME ZONE 'UTC')::date AS day, job_name,
                   count(*) FILTER (WHERE status = 'succeeded') AS successful_runs,
                   count(*) FILTER (WHERE status <> 'succeeded') AS failed_runs,
                   coalesce(sum(duration_ms), 0) AS duration_ms_sum,
                   count(duration_ms) AS timed_runs, max(started_at) AS last_run_at
              FROM pgsched.runs WHERE status IN {COUNTED}
             GROUP BY 1, 2
        ), recent AS (
            SELECT job_name, sum(successful_runs) AS successful_runs,
                   sum(failed_runs) AS failed_runs, sum(duration_ms_sum) AS duration_ms_sum,
                   sum(timed_runs) AS timed_runs, max(last_run_at) AS last_run_at
              FROM counted
             WHERE day >= (SELECT first_day FROM pgsched.recent_run_totals_starts)
               AND day < (SELECT next_day FROM pgsched.recent_run_totals_starts)
             GROUP BY job_name
        )
        SELECT 'daily', day, job_name FROM counted
          FULL JOIN pgsched.daily_run_totals AS t USING (day, job_name)
         WHERE (counted.successful_runs, counted.failed_runs, counted.duration_ms_sum,
                counted.timed_runs, counted.last_run_at)
               IS DISTINCT FROM (t.successful_runs, t.failed_runs, t.duration_ms_sum,
                                 t.timed_runs, t.last_run_at)
        UNION ALL
        SELECT 'recent', NULL, job_name FROM recent
          FULL JOIN pgsched.recent_run_totals AS t USING (job_name)
         WHERE (recent.successful_runs, recent.failed_runs, recent.duration_ms_sum,
                recent.timed_runs, recent.last_run_at)
               IS DISTINCT FROM (t.successful_runs, t.failed_runs, t.duration_ms_sum,
                                 t.timed_runs, t.last_run_at)
        """
    ).fetchall()


def as_if_unrolled_for(db: Connection, days: int) -> None:
    """Move the recent totals back ``days`` days, as if no outcome had been recorded
    since (the day's roll not run): they start and stop ``days`` earlier, and
    job_success_rates groups the days after them itself."""
    db.execute(
        "UPDATE pgsched.recent_run_totals_starts"
        " SET first_day = first_day - %s, next_day = next_day - %s",
        [days, days],
    )
    db.execute("DELETE FROM pgsched.recent_run_totals")
    db.execute(
        "INSERT INTO pgsched.recent_run_totals AS t SELECT job_name, sum(successful_runs),"
        " sum(failed_runs), sum(duration_ms_sum), sum(timed_runs), max(last_run_at)"
        " FROM pgsched.daily_run_totals"
        " WHERE day >= (SELECT first_day FROM pgsched.recent_run_totals_starts)"
        " AND day < (SELECT next_day FROM pgsched.recent_run_totals_starts)"
        " GROUP BY job_name"
    )
