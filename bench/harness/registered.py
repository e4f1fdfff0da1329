"""Jobs that are registered but not due while a phase measures: the bulk of a large install.

Half are hourly, half daily, with slots one second apart spread over the 50 minutes
that start 10 minutes from now, so none fires during a phase of a few minutes. They
are inserted with their ``next_run``, as workers would have computed it, so that no
worker spends the phase scheduling them.
"""

from __future__ import annotations

from bench.harness.database import NOOP_TARGET, Connection

FIRST_SLOT_MINUTES = 10
SPREAD_SECONDS = 3000

# 6-field cron, seconds first; jobs' time zone defaults to UTC.
REGISTER_JOBS_NOT_DUE = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)
SELECT 'bench-later-' || n,
       CASE WHEN n %% 2 = 0
            THEN format('%%s %%s * * * *', extract(second FROM utc)::int,
                        extract(minute FROM utc)::int)
            ELSE format('%%s %%s %%s * * *', extract(second FROM utc)::int,
                        extract(minute FROM utc)::int, extract(hour FROM utc)::int) END,
       'python', %(target)s, slot
  FROM generate_series(1, %(count)s) AS n
 CROSS JOIN LATERAL (
        SELECT date_trunc('second', now()) + %(first_minutes)s * interval '1 minute'
               + n %% %(spread)s * interval '1 second' AS slot) AS s
 CROSS JOIN LATERAL (SELECT s.slot AT TIME ZONE 'UTC' AS utc) AS u
"""


def register_jobs_not_due(connection: Connection, count: int) -> None:
    """Register ``count`` no-op python jobs, none due within the next 10 minutes."""
    connection.execute(
        REGISTER_JOBS_NOT_DUE,
        {
            "target": NOOP_TARGET,
            "count": count,
            "first_minutes": FIRST_SLOT_MINUTES,
            "spread": SPREAD_SECONDS,
        },
    )
