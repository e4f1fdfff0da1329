"""job_health v4 reads each job's success rate beside it, as job_success_rates gives
it whether or not the day's roll has run, and its p95_lag_ms from the latest 1,000
scheduled first attempts of the day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.commands import add_job, database_now
from tests.monitoring import DAY, MINUTE, Connection, add_run, as_if_unrolled_for, one

HEALTH_RATES = """
SELECT job_name, total_runs, success_rate_percentage, avg_duration_ms, health
  FROM pgsched.job_health ORDER BY job_name
"""
# job_success_rates' figures for every job, a job without any as job_health words it.
VIEW_RATES = """
SELECT j.name, coalesce(r.total_runs, 0), r.success_rate_percentage, r.avg_duration_ms,
       CASE WHEN r.total_runs IS NULL THEN 'idle'
            WHEN r.success_rate_percentage >= 95 THEN 'healthy'
            WHEN r.success_rate_percentage >= 80 THEN 'degraded'
            ELSE 'failing' END
  FROM pgsched.jobs AS j
  LEFT JOIN pgsched.job_success_rates AS r ON r.job_name = j.name
 ORDER BY j.name
"""


def test_job_health_gives_the_rates_of_job_success_rates_whether_the_day_rolled_or_not(
    db: Connection,
) -> None:
    now = database_now(db)
    for name in ("daily", "stopped", "old", "never"):
        add_job(db, name)
    for days_ago in range(40):
        status = "succeeded" if days_ago % 3 else "failed"
        add_run(db, "daily", status, now - days_ago * DAY, duration_ms=float(days_ago))
    for days_ago in range(28, 36):
        add_run(db, "stopped", "succeeded", now - days_ago * DAY, duration_ms=1.0)
    add_run(db, "old", "timed_out", now - 33 * DAY, duration_ms=2.0)
    settled = db.execute(HEALTH_RATES).fetchall()
    assert settled == db.execute(VIEW_RATES).fetchall()
    assert [row[4] for row in settled] == ["failing", "idle", "idle", "healthy"]
    # As if no outcome had been recorded for six days (job_success_rates then groups
    # the days itself): the same figures.
    as_if_unrolled_for(db, 6)
    assert db.execute(HEALTH_RATES).fetchall() == settled
    # A slot of a day ahead recorded: not settled either.
    add_run(db, "daily", "failed", now + 2 * DAY, duration_ms=None)
    assert one(
        db,
        "SELECT max(day) > next_day FROM pgsched.daily_run_totals,"
        " pgsched.recent_run_totals_starts GROUP BY next_day",
    ) == (True,)
    assert db.execute(HEALTH_RATES).fetchall() == db.execute(VIEW_RATES).fetchall()


LAGGED_RUNS = """
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, trigger, started_at,
                          finished_at, duration_ms)
SELECT j.id, j.name, now() - n * interval '10 seconds', 'succeeded', 'schedule',
       now() - n * interval '10 seconds' + %(lag)s::integer * interval '1 ms',
       now() - n * interval '10 seconds' + %(lag)s::integer * interval '1 ms', 1
  FROM pgsched.jobs AS j, generate_series(%(low)s::integer, %(high)s::integer) AS n
 WHERE j.name = 'busy'
"""


def test_p95_lag_is_that_of_the_latest_1000_scheduled_first_attempts_of_the_day(
    db: Connection,
) -> None:
    add_job(db, "busy")
    # The latest 1,000 slots (10 s apart) started 10 ms late; the 100 before them, 5 s.
    db.execute(LAGGED_RUNS, {"lag": 10, "low": 1, "high": 1000})
    db.execute(LAGGED_RUNS, {"lag": 5000, "low": 1001, "high": 1100})
    lag = one(db, "SELECT p95_lag_ms FROM pgsched.job_health WHERE job_name = 'busy'")[0]
    assert lag == pytest.approx(10.0)
    # A job firing fewer than 1,000 times a day: every first attempt of the day counts.
    add_job(db, "hourly")
    now = database_now(db)
    for hours_ago, lag_ms in enumerate((10, 20, 30, 40, 1000)):
        add_run(
            db,
            "hourly",
            "succeeded",
            now - timedelta(hours=hours_ago + 1),
            lag=timedelta(milliseconds=lag_ms),
            duration_ms=1.0,
        )
    add_run(db, "hourly", "succeeded", now - 25 * 60 * MINUTE, lag=timedelta(hours=1))
    lag = one(db, "SELECT p95_lag_ms FROM pgsched.job_health WHERE job_name = 'hourly'")[0]
    assert lag == pytest.approx(40 + 0.8 * 960)
