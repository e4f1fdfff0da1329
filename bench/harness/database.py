"""Small database helpers shared by the phases: connections, the clock, job registration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

NOOP_TARGET = "bench.harness.targets:noop"

# J jobs in one statement; names are unique, the trigger validates each row.
REGISTER_NOOP_JOBS = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, overlap)
SELECT 'bench-' || n, %(schedule)s, 'python', %(target)s, %(overlap)s
  FROM generate_series(1, %(count)s) AS n
"""

# Runs recorded succeeded inside a measuring window (throughput, lag, workers-8).
SUCCEEDED_IN_WINDOW = """
SELECT count(*) FROM pgsched.runs
 WHERE status = 'succeeded' AND finished_at >= %(started_at)s AND finished_at < %(ended_at)s
"""

LIVE_WORKERS = "SELECT count(*) FROM pgsched.workers WHERE stopped_at IS NULL"

# Whether a herd on one instant still has work in its queue: a job not yet claimed for
# the instant, or a run not yet finished. Both read a few index entries (each priority
# level's first due entry, the levels walked as the worker's claim walks them; the
# active runs' partial index) where counting the finished runs scanned every run:
# polled every 50 ms, that count took over half a core from the herd it measured (60
# to 120 ms a scan at 100,000 runs). The walk needs no jobs_queue_due_idx, which the
# next release drops.
HERD_OPEN = """
WITH RECURSIVE levels (priority) AS (
      (SELECT priority FROM pgsched.jobs
        WHERE enabled AND queue = %(queue)s ORDER BY priority DESC LIMIT 1)
      UNION ALL
      SELECT (SELECT j.priority FROM pgsched.jobs AS j
               WHERE j.enabled AND j.queue = %(queue)s AND j.priority < l.priority
               ORDER BY j.priority DESC LIMIT 1)
        FROM levels AS l
       WHERE l.priority IS NOT NULL
)
SELECT EXISTS (SELECT 1 FROM levels AS l
                WHERE (SELECT COALESCE(j.next_run, '-infinity') FROM pgsched.jobs AS j
                        WHERE j.enabled AND j.queue = %(queue)s AND j.priority = l.priority
                        ORDER BY COALESCE(j.next_run, '-infinity') LIMIT 1) <= %(instant)s)
    OR EXISTS (SELECT 1 FROM pgsched.runs
                WHERE status IN ('pending', 'running') AND queue = %(queue)s)
"""

Connection = psycopg.Connection[tuple[Any, ...]]


def connect(url: str) -> Connection:
    """An autocommit connection: every statement sees the database clock anew."""
    return psycopg.connect(url, autocommit=True, application_name="pgsched-bench")


def scalar(connection: Connection, query: str, params: dict[str, Any] | None = None) -> Any:
    """The first column of the first row of ``query``."""
    row = connection.execute(query, params).fetchone()
    return row[0] if row else None


def herd_finished(connection: Connection, instant: datetime, queue: str) -> bool:
    """Whether every job of ``queue`` due at ``instant`` was claimed and its run finished
    (how each finished is the phase's to check, once, afterwards)."""
    return not scalar(connection, HERD_OPEN, {"instant": instant, "queue": queue})


def database_now(connection: Connection) -> datetime:
    """The database clock (``now()`` of a fresh statement), which decides what is due."""
    value: datetime = scalar(connection, "SELECT now()")
    return value


def register_noop_jobs(
    connection: Connection, count: int, schedule: str, overlap: str = "skip"
) -> None:
    """Register ``count`` python jobs calling ``bench.harness.targets:noop`` on ``schedule``."""
    connection.execute(
        REGISTER_NOOP_JOBS,
        {"schedule": schedule, "target": NOOP_TARGET, "overlap": overlap, "count": count},
    )
