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

Connection = psycopg.Connection[tuple[Any, ...]]


def connect(url: str) -> Connection:
    """An autocommit connection: every statement sees the database clock anew."""
    return psycopg.connect(url, autocommit=True, application_name="pgsched-bench")


def scalar(connection: Connection, query: str, params: dict[str, Any] | None = None) -> Any:
    """The first column of the first row of ``query``."""
    row = connection.execute(query, params).fetchone()
    return row[0] if row else None


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
