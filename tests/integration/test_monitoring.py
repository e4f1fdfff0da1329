"""Monitoring in SQL: views, statistics, control functions, previews and roles.

Fixtures are runs inserted directly with fixed offsets from the database clock, so
every figure is asserted exactly. Where a figure depends on now() (windows, hour
buckets, durations so far), the fixture and the query share one transaction and
so one now().
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import errors

from pgsched.scheduling.schedule import parse_schedule
from tests.commands import add_job, database_now
from tests.conftest import scratch_database

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


# -- job_stats ------------------------------------------------------------------------


def seed_report_job(db: Connection, now: datetime) -> None:
    """Seven counted runs in the last 30 days, four that are not counted, one older."""
    add_job(db, "report")
    outcomes = [
        ("succeeded", 100.0),
        ("succeeded", 200.0),
        ("succeeded", 300.0),
        ("succeeded", 400.0),
        ("failed", 1000.0),
        ("timed_out", 2000.0),
        ("lost", 500.0),
    ]
    for days_ago, (status, duration) in enumerate(outcomes, start=1):
        add_run(db, "report", status, now - days_ago * DAY, duration_ms=duration, lag=SECOND)
    for hours_ago, status in enumerate(("skipped", "cancelled", "pending", "running"), start=1):
        add_run(db, "report", status, now - hours_ago * HOUR, duration_ms=5.0)
    add_run(db, "report", "succeeded", now - 40 * DAY, duration_ms=9999.0)


def test_job_stats_counts_outcomes_of_the_window_exactly(db: Connection) -> None:
    with one_instant(db) as now:
        seed_report_job(db, now)
        stats = one(db, "SELECT * FROM pgsched.job_stats('report')")
        wider = one(
            db,
            "SELECT total_runs, successful_runs, max_duration_ms"
            " FROM pgsched.job_stats('report', 60)",
        )
    assert stats == (
        7,  # counted: 4 succeeded, failed, timed_out, lost
        4,
        3,
        Decimal("57.14"),
        pytest.approx(4500 / 7),
        100.0,
        2000.0,
        # Sorted 100 200 300 400 500 1000 2000: rank 0.95 * 6 = 5.7, between 1000 and 2000.
        pytest.approx(1700.0),
        now - DAY + SECOND,  # latest start
        now - DAY + SECOND + timedelta(milliseconds=100),  # latest success's finish
        now - 5 * DAY + SECOND + timedelta(milliseconds=1000),  # latest failure's finish
    )
    assert wider == (8, 5, 9999.0)


def test_job_stats_of_a_job_without_runs_is_zero_and_unknown_names_are_refused(
    db: Connection,
) -> None:
    add_job(db, "quiet")
    assert one(
        db, "SELECT total_runs, success_rate, p95_duration_ms FROM pgsched.job_stats('quiet', 7)"
    ) == (0, None, None)
    with pytest.raises(errors.NoDataFound, match="no job named 'nope'"):
        db.execute("SELECT * FROM pgsched.job_stats('nope')")
    with pytest.raises(errors.InvalidParameterValue, match="days must be 1 or more"):
        db.execute("SELECT * FROM pgsched.job_stats('quiet', 0)")


def test_job_stats_follow_a_renamed_job_and_find_a_deleted_one_by_name(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "old-name")
        add_run(db, "old-name", "succeeded", now - HOUR, duration_ms=10.0)
        db.execute("UPDATE pgsched.jobs SET name = 'new-name' WHERE name = 'old-name'")
        add_run(db, "new-name", "failed", now - MINUTE, duration_ms=20.0)
        assert one(db, "SELECT total_runs, successful_runs FROM pgsched.job_stats('new-name')") == (
            2,
            1,
        )
        db.execute("DELETE FROM pgsched.jobs WHERE name = 'new-name'")
        assert one(db, "SELECT total_runs, failed_runs FROM pgsched.job_stats('new-name')") == (
            1,
            1,
        )


# -- job_timeline -----------------------------------------------------------------------


def test_job_timeline_has_one_bucket_per_hour_including_empty_ones(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "hourly")
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        add_run(db, "hourly", "succeeded", this_hour, duration_ms=50.0)
        add_run(db, "hourly", "succeeded", this_hour - HOUR + 10 * MINUTE, duration_ms=100.0)
        add_run(db, "hourly", "succeeded", this_hour - HOUR + 20 * MINUTE, duration_ms=300.0)
        add_run(db, "hourly", "timed_out", this_hour - HOUR + 30 * MINUTE, duration_ms=200.0)
        add_run(db, "hourly", "skipped", this_hour - HOUR + 40 * MINUTE)
        add_run(db, "hourly", "running", this_hour - 3 * HOUR + 5 * MINUTE)
        add_run(db, "hourly", "cancelled", this_hour - 3 * HOUR + 6 * MINUTE, duration_ms=7.0)
        add_run(db, "hourly", "failed", this_hour - 5 * HOUR, duration_ms=1.0)  # before the window
        timeline = db.execute("SELECT * FROM pgsched.job_timeline('hourly', 5)").fetchall()
        day = db.execute("SELECT count(*) FROM pgsched.job_timeline('hourly')").fetchone()
    assert timeline == [
        (this_hour - 4 * HOUR, 0, 0, 0, None),
        (this_hour - 3 * HOUR, 2, 0, 0, None),
        (this_hour - 2 * HOUR, 0, 0, 0, None),
        (this_hour - HOUR, 3, 2, 1, 200.0),
        (this_hour, 1, 1, 0, 50.0),
    ]
    assert day == (24,)


def test_job_timeline_refuses_bad_ranges_and_unknown_jobs(db: Connection) -> None:
    add_job(db, "hourly")
    with pytest.raises(errors.InvalidParameterValue, match="hours must be between 1 and 8784"):
        db.execute("SELECT * FROM pgsched.job_timeline('hourly', 0)")
    with pytest.raises(errors.NoDataFound, match="no job named"):
        db.execute("SELECT * FROM pgsched.job_timeline('missing')")


# -- job_success_rates and the daily totals behind it --------------------------------------


def test_job_success_rates_counts_outcomes_of_the_last_30_days(db: Connection) -> None:
    now = database_now(db)
    add_job(db, "a")
    add_job(db, "b")
    add_job(db, "only-skips")
    for days_ago in range(1, 10):
        add_run(db, "a", "succeeded", now - days_ago * DAY, duration_ms=100.0 * days_ago)
    add_run(db, "a", "lost", now - 28 * DAY, duration_ms=None)
    add_run(db, "a", "failed", now - 31 * DAY, duration_ms=1.0)  # outside the window
    add_run(db, "b", "failed", now - 2 * HOUR, duration_ms=10.0, lag=SECOND)
    add_run(db, "b", "timed_out", now - 3 * HOUR, duration_ms=30.0)
    add_run(db, "b", "cancelled", now - 4 * HOUR, duration_ms=99.0)
    add_run(db, "only-skips", "skipped", now - HOUR)
    rows = db.execute("SELECT * FROM pgsched.job_success_rates ORDER BY job_name").fetchall()
    assert rows == [
        ("a", 9, 1, 10, Decimal("90.00"), 500.0, now - DAY),
        ("b", 0, 2, 2, Decimal("0.00"), 20.0, now - 2 * HOUR + SECOND),
    ]


def totals_disagree_with_runs(db: Connection) -> list[tuple[Any, ...]]:
    """Rows where the totals differ from a count of the runs (none expected): daily
    totals against the runs, recent totals against the daily ones."""
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


SUCCESS_RATES_FROM_RUNS = f"""
SELECT job_name, count(*) FILTER (WHERE status = 'succeeded'),
       count(*) FILTER (WHERE status <> 'succeeded'), count(*),
       round(100.0 * count(*) FILTER (WHERE status = 'succeeded') / count(*), 2),
       avg(duration_ms), max(started_at)
  FROM pgsched.runs
 WHERE status IN {COUNTED} AND scheduled_for >= (now() AT TIME ZONE 'UTC')::date - 29
 GROUP BY job_name
 ORDER BY job_name
"""


def test_success_rates_move_with_the_days_and_stay_exact(db: Connection) -> None:
    now = database_now(db)
    for name in ("daily", "stopped", "old"):
        add_job(db, name)
    for days_ago in range(40):
        add_run(
            db,
            "daily",
            "succeeded" if days_ago % 3 else "failed",
            now - days_ago * DAY,
            duration_ms=float(days_ago),
        )
    for days_ago in range(28, 36):
        add_run(db, "stopped", "succeeded", now - days_ago * DAY, duration_ms=1.0)
    add_run(db, "old", "timed_out", now - 33 * DAY, duration_ms=2.0)
    expected = db.execute(SUCCESS_RATES_FROM_RUNS).fetchall()
    assert db.execute("SELECT * FROM pgsched.job_success_rates ORDER BY job_name").fetchall() == (
        expected
    )
    # As if no outcome had been recorded for six days: the recent totals still start
    # 35 days back, and the view leaves out what has left the window since.
    db.execute("UPDATE pgsched.recent_run_totals_starts SET first_day = first_day - 6")
    db.execute(
        "INSERT INTO pgsched.recent_run_totals AS t SELECT job_name, sum(successful_runs),"
        " sum(failed_runs), sum(duration_ms_sum), sum(timed_runs), max(last_run_at)"
        " FROM pgsched.daily_run_totals"
        " WHERE day >= (SELECT first_day FROM pgsched.recent_run_totals_starts)"
        " GROUP BY job_name ON CONFLICT (job_name) DO UPDATE"
        " SET successful_runs = excluded.successful_runs, failed_runs = excluded.failed_runs,"
        " duration_ms_sum = excluded.duration_ms_sum, timed_runs = excluded.timed_runs,"
        " last_run_at = excluded.last_run_at"
    )
    assert totals_disagree_with_runs(db) == []
    assert db.execute("SELECT * FROM pgsched.job_success_rates ORDER BY job_name").fetchall() == (
        expected
    )
    # The next outcome recorded moves the start forward.
    add_run(db, "daily", "lost", now + MINUTE, duration_ms=None)
    assert one(
        db,
        "SELECT first_day = (now() AT TIME ZONE 'UTC')::date - 29"
        " FROM pgsched.recent_run_totals_starts",
    ) == (True,)
    assert totals_disagree_with_runs(db) == []
    assert one(db, "SELECT count(*) FROM pgsched.recent_run_totals WHERE job_name = 'old'") == (0,)
    assert db.execute("SELECT * FROM pgsched.job_success_rates ORDER BY job_name").fetchall() == (
        db.execute(SUCCESS_RATES_FROM_RUNS).fetchall()
    )


def test_daily_totals_follow_every_change_to_runs(db: Connection) -> None:
    now = database_now(db)
    add_job(db, "a")
    add_job(db, "b")
    for index in range(6):
        add_run(db, "a", "running", now - index * HOUR - 40 * DAY)
        add_run(db, "b", "pending", now - index * HOUR)
    assert db.execute("SELECT count(*) FROM pgsched.daily_run_totals").fetchone() == (0,)
    # A worker's batch of finishes, then a status corrected by hand.
    db.execute(
        "UPDATE pgsched.runs SET status = CASE WHEN id % 2 = 0 THEN 'succeeded' ELSE 'failed' END,"
        " finished_at = scheduled_for + interval '1 minute', duration_ms = id * 10"
        " WHERE job_name = 'a'"
    )
    db.execute(
        "UPDATE pgsched.runs SET status = 'running', started_at = now() WHERE job_name = 'b'"
    )
    db.execute(
        "UPDATE pgsched.runs SET status = 'lost', finished_at = now() WHERE job_name = 'b'"
        " AND scheduled_for > now() - interval '150 minutes'"
    )
    db.execute(
        "UPDATE pgsched.runs SET status = 'succeeded' WHERE status = 'lost'"
        " AND scheduled_for > now() - interval '30 minutes'"
    )
    assert totals_disagree_with_runs(db) == []
    db.execute("DELETE FROM pgsched.jobs WHERE name = 'b'")  # runs keep their name
    assert totals_disagree_with_runs(db) == []
    # The latest start of a day goes, the day stays: its last_run_at is recomputed.
    db.execute(
        "DELETE FROM pgsched.runs WHERE id = (SELECT id FROM pgsched.runs WHERE job_name = 'a'"
        " AND status IN ('succeeded', 'failed') ORDER BY started_at DESC NULLS LAST LIMIT 1)"
    )
    assert totals_disagree_with_runs(db) == []
    assert one(db, "SELECT pgsched.cleanup_runs(30)") == (5,)
    assert totals_disagree_with_runs(db) == []
    db.execute("TRUNCATE pgsched.runs")
    assert db.execute("SELECT count(*) FROM pgsched.daily_run_totals").fetchone() == (0,)


# -- failed_runs, running_runs, workers_alive, recent_runs -----------------------------------


def test_failed_runs_lists_the_latest_100_failures_newest_first(db: Connection) -> None:
    now = database_now(db)
    add_job(db, "flaky")
    statuses = itertools.cycle(("failed", "timed_out", "lost", "succeeded", "skipped"))
    expected = []
    for minutes_ago in range(1, 201):
        status = next(statuses)
        run_id = add_run(
            db,
            "flaky",
            status,
            now - minutes_ago * MINUTE,
            duration_ms=1.0,
            error=f"e{minutes_ago}",
        )
        if status in ("failed", "timed_out", "lost"):
            expected.append((run_id, status, f"e{minutes_ago}"))
    rows = db.execute("SELECT id, status, error FROM pgsched.failed_runs").fetchall()
    assert rows == expected[:100]


def register_worker(
    db: Connection, worker_id: str, *, silent_for: timedelta, lease: int = 30, stopped: bool = False
) -> None:
    db.execute(
        "INSERT INTO pgsched.workers (id, host, pid, queues, concurrency, lease_seconds,"
        " last_heartbeat_at, stopped_at) VALUES (%s, 'host-' || %s, 4242, '{default,reports}',"
        " 10, %s, now() - %s, CASE WHEN %s THEN now() END)",
        [worker_id, worker_id, lease, silent_for, stopped],
    )


def test_running_runs_shows_duration_so_far_and_the_worker(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "long", timeout_seconds=600)
        register_worker(db, "w1", silent_for=5 * SECOND)
        register_worker(db, "w2", silent_for=MINUTE)
        first = add_run(db, "long", "running", now - 90 * SECOND, worker_id="w1")
        second = add_run(db, "long", "running", now - 2 * SECOND, lag=SECOND, worker_id="w2")
        add_run(db, "long", "succeeded", now - HOUR, duration_ms=1.0, worker_id="w1")
        rows = db.execute(
            "SELECT id, running_duration_seconds, timeout_seconds, worker_id, worker_host,"
            " worker_pid, worker_alive FROM pgsched.running_runs ORDER BY id"
        ).fetchall()
    assert rows == [
        (first, 90, 600, "w1", "host-w1", 4242, True),
        (second, 1, 600, "w2", "host-w2", 4242, False),
    ]


def test_workers_alive_lists_workers_within_their_lease_with_running_counts(
    db: Connection,
) -> None:
    now = database_now(db)
    add_job(db, "job")
    register_worker(db, "fresh", silent_for=10 * SECOND)
    register_worker(db, "long-lease", silent_for=50 * SECOND, lease=120)
    register_worker(db, "silent", silent_for=31 * SECOND)
    register_worker(db, "stopped", silent_for=SECOND, stopped=True)
    for minutes_ago in (1, 2):
        add_run(db, "job", "running", now - minutes_ago * MINUTE, worker_id="fresh")
    add_run(db, "job", "succeeded", now - 3 * MINUTE, duration_ms=1.0, worker_id="fresh")
    rows = db.execute(
        "SELECT id, host, pid, running_runs FROM pgsched.workers_alive ORDER BY id"
    ).fetchall()
    assert rows == [("fresh", "host-fresh", 4242, 2), ("long-lease", "host-long-lease", 4242, 0)]


def test_recent_runs_covers_the_last_seven_days(db: Connection) -> None:
    now = database_now(db)
    add_job(db, "job")
    kept = [add_run(db, "job", "succeeded", now - days * DAY, duration_ms=1.0) for days in (1, 6)]
    add_run(db, "job", "succeeded", now - 8 * DAY, duration_ms=1.0)
    pending = add_run(db, "job", "pending", now)
    rows = db.execute("SELECT id FROM pgsched.recent_runs ORDER BY id").fetchall()
    assert rows == [(kept[0],), (kept[1],), (pending,)]


# -- job_health -----------------------------------------------------------------------------


def add_outcomes(db: Connection, job: str, now: datetime, succeeded: int, failed: int) -> None:
    for index in range(succeeded + failed):
        status = "succeeded" if index < succeeded else "failed"
        slot = now - DAY - (index + 1) * HOUR
        add_run(db, job, status, slot, duration_ms=10.0 * (index + 1))


def test_job_health_gives_each_job_a_health_word_lag_and_last_run(db: Connection) -> None:
    with one_instant(db) as now:
        for name in ("healthy", "edge-healthy", "degraded", "edge-degraded", "failing", "idle"):
            add_job(db, name)
        add_outcomes(db, "healthy", now, succeeded=20, failed=0)
        add_outcomes(db, "edge-healthy", now, succeeded=19, failed=1)  # 95 %
        add_outcomes(db, "degraded", now, succeeded=9, failed=1)
        add_outcomes(db, "edge-degraded", now, succeeded=4, failed=1)  # 80 %
        add_outcomes(db, "failing", now, succeeded=3, failed=1)  # 75 %
        # Lags of the last 24 h: first scheduled attempts only.
        for index, lag_ms in enumerate((10, 20, 30, 40, 1000)):
            add_run(db, "idle", "skipped", now - (index + 1) * MINUTE)
            add_run(
                db,
                "healthy",
                "running" if index == 0 else "succeeded",
                now - (index + 1) * MINUTE,
                lag=timedelta(milliseconds=lag_ms),
                duration_ms=None if index == 0 else 10.0,
            )
        add_run(db, "healthy", "succeeded", now - 2 * MINUTE, attempt=2, lag=HOUR, duration_ms=1.0)
        add_run(
            db,
            "healthy",
            "succeeded",
            now - 30 * MINUTE,
            trigger="catchup",
            lag=HOUR,
            duration_ms=1.0,
        )
        add_run(
            db, "healthy", "succeeded", now - 25 * HOUR - 30 * MINUTE, lag=HOUR, duration_ms=1.0
        )
        db.execute("UPDATE pgsched.jobs SET last_error = 'bad zone' WHERE name = 'failing'")
        rows = db.execute(
            "SELECT job_name, total_runs, success_rate_percentage, health, last_run_status,"
            " p95_lag_ms, last_error FROM pgsched.job_health ORDER BY job_name"
        ).fetchall()
        healthy = one(
            db,
            "SELECT last_run_scheduled_for, last_run_started_at, avg_duration_ms, enabled,"
            " schedule FROM pgsched.job_health WHERE job_name = 'healthy'",
        )
    assert [row[:5] for row in rows] == [
        ("degraded", 10, 90, "degraded", "succeeded"),
        ("edge-degraded", 5, 80, "degraded", "succeeded"),
        ("edge-healthy", 20, 95, "healthy", "succeeded"),
        ("failing", 4, 75, "failing", "succeeded"),
        ("healthy", 27, 100, "healthy", "running"),
        ("idle", 0, None, "idle", "skipped"),
    ]
    lags = {row[0]: row[5] for row in rows}
    # 10 20 30 40 1000 ms: rank 0.95 * 4 = 3.8, between 40 and 1000.
    assert lags["healthy"] == pytest.approx(40 + 0.8 * 960)
    assert lags["idle"] is None
    assert rows[3][6] == "bad zone"
    # The attempt-2 run shares a slot with attempt 1 and is the latest.
    assert healthy[:2] == (now - MINUTE, now - MINUTE + timedelta(milliseconds=10))
    # 20 runs of 10..200 ms, 4 of 10 ms, 3 of 1 ms.
    assert healthy[2] == pytest.approx((2100 + 40 + 3) / 27)
    assert healthy[3:] == (True, "*/5 * * * *")


# -- missed_runs ----------------------------------------------------------------------------


def test_missed_runs_shows_skips_gaps_and_jobs_that_stopped_firing(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "busy")
        skipped = add_run(db, "busy", "skipped", now - HOUR, error="overlap=skip: run 1 ...")
        add_run(db, "busy", "skipped", now - 8 * DAY, error="too old to list")
        gap = add_run(
            db,
            "busy",
            "skipped",
            now - 2 * DAY,
            error="missed 3 slot(s)",
            missed_until=now - 2 * DAY + 10 * MINUTE,
            missed_slots=3,
        )
        add_job(db, "stalled", queue="reports")
        add_job(db, "unserved", queue="nobody")
        add_job(db, "late-but-within", queue="reports")
        add_job(db, "patient", queue="nobody", misfire_threshold_seconds=600)
        add_job(db, "off", queue="nobody", enabled=False)
        add_job(db, "never-planned", queue="nobody")
        add_job(db, "broken", queue="nobody")
        db.execute(
            "UPDATE pgsched.jobs SET next_run = now() - CASE name"
            " WHEN 'stalled' THEN interval '5 minutes' WHEN 'unserved' THEN interval '2 minutes'"
            " WHEN 'late-but-within' THEN interval '50 seconds'"
            " WHEN 'patient' THEN interval '9 minutes' WHEN 'off' THEN interval '1 day'"
            " WHEN 'broken' THEN interval '1 day' END WHERE name <> 'never-planned'"
        )
        db.execute(
            "UPDATE pgsched.jobs SET updated_at = now() - interval '2 minutes'"
            " WHERE name = 'never-planned'"
        )
        db.execute("UPDATE pgsched.jobs SET last_error = 'unknown zone' WHERE name = 'broken'")
        register_worker(db, "w1", silent_for=SECOND)  # serves default and reports
        rows = db.execute(
            "SELECT job_name, kind, scheduled_for, missed_until, missed_slots, reason, run_id"
            " FROM pgsched.missed_runs ORDER BY job_name, scheduled_for"
        ).fetchall()
    by_job = {row[0]: row for row in rows}
    assert sorted(by_job) == ["broken", "busy", "never-planned", "stalled", "unserved"]
    assert [row[1:] for row in rows if row[0] == "busy"] == [
        ("gap", now - 2 * DAY, now - 2 * DAY + 10 * MINUTE, 3, "missed 3 slot(s)", gap),
        ("skipped", now - HOUR, None, 1, "overlap=skip: run 1 ...", skipped),
    ]
    assert by_job["stalled"][1:3] == ("overdue", now - 5 * MINUTE)
    assert "workers serving queue 'reports' are behind" in by_job["stalled"][5]
    assert by_job["unserved"][5] == "no live worker serves queue 'nobody'"
    assert by_job["never-planned"][1:3] == ("unscheduled", None)
    assert by_job["broken"][1] == "invalid" and by_job["broken"][5] == "unknown zone"


# -- scheduler_lag --------------------------------------------------------------------------


def test_scheduler_lag_gives_percentiles_overall_and_per_queue(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "fast")
        add_job(db, "report", queue="reports")
        for index, lag_ms in enumerate((10, 20, 30, 40)):
            add_run(
                db,
                "fast",
                "succeeded",
                now - (index + 1) * MINUTE - 30 * SECOND,
                lag=timedelta(milliseconds=lag_ms),
                duration_ms=1.0,
            )
        add_run(db, "report", "running", now - 10 * MINUTE, lag=SECOND, queue="reports")
        # Not scheduled first attempts, or outside the window: not counted.
        add_run(db, "fast", "succeeded", now - MINUTE, attempt=2, lag=HOUR, duration_ms=1.0)
        add_run(
            db, "fast", "succeeded", now - 7 * MINUTE, trigger="catchup", lag=HOUR, duration_ms=1.0
        )
        add_run(
            db, "fast", "succeeded", now - 8 * MINUTE, trigger="manual", lag=HOUR, duration_ms=1.0
        )
        add_run(db, "fast", "skipped", now - 9 * MINUTE)
        add_run(db, "fast", "succeeded", now - 61 * MINUTE, lag=HOUR, duration_ms=1.0)
        rows = db.execute("SELECT * FROM pgsched.scheduler_lag()").fetchall()
        quiet = db.execute("SELECT * FROM pgsched.scheduler_lag(1)").fetchall()
    assert rows == [
        # 10 20 30 40 1000 ms
        (None, 5, 30.0, pytest.approx(40 + 0.8 * 960), pytest.approx(40 + 0.96 * 960), 1000.0),
        ("default", 4, 25.0, pytest.approx(38.5), pytest.approx(39.7), 40.0),
        ("reports", 1, 1000.0, 1000.0, 1000.0, 1000.0),
    ]
    assert quiet == [(None, 0, None, None, None, None)]


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


# -- preview_runs ---------------------------------------------------------------------------

PREVIEW_SCHEDULES = (
    "30 2 * * *",
    "30 1 * * *",
    "0 2 * * *",
    "*/15 * * * *",
    "@hourly",
    "0 */2 * * *",
    "*/7 1-3 * * *",
    "0 30 2 * * *",
    "@daily",
    "0 0 13 * 5",
    "0 9-17 * * mon-fri",
    "@every 45m",
    "0 0 29 2 *",
)
PREVIEW_ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
)
# Around the 2026 transitions of Berlin (29 March, 25 October) and New York
# (8 March, 1 November), inside New York's repeated hour, and before a leap year.
PREVIEW_AFTER = (
    datetime(2026, 3, 28, 22, tzinfo=UTC),
    datetime(2026, 3, 8, 5, 59, 59, 500000, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 15, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 45, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 10, tzinfo=UTC),
    datetime(2027, 12, 31, 12, tzinfo=UTC),
)


@pytest.mark.parametrize("zone", PREVIEW_ZONES)
def test_schedule_slots_match_the_worker_schedule_module(db: Connection, zone: str) -> None:
    for expression, after in itertools.product(PREVIEW_SCHEDULES, PREVIEW_AFTER):
        expected = [
            (fire.at, fire.wall_time, fire.note.value if fire.note else None)
            for fire in parse_schedule(expression, zone).upcoming(after, 12)
        ]
        found = db.execute(
            "SELECT slot_at, wall_time, dst_note FROM pgsched.schedule_slots(%s, %s, %s, 12)",
            [expression, zone, after],
        ).fetchall()
        assert found == expected, (expression, zone, after)


def test_preview_runs_marks_slots_moved_by_dst(db: Connection) -> None:
    add_job(db, "berlin", "30 2 * * *", timezone="Europe/Berlin")
    add_job(db, "new-york", "*/30 1 * * *", timezone="America/New_York")
    spring = db.execute(
        "SELECT slot, scheduled_for, local_time, wall_time, timezone, dst_note, dst_shifted"
        " FROM pgsched.preview_runs('berlin', 3, '2026-03-27T12:00:00Z')"
    ).fetchall()
    assert spring == [
        (1, datetime(2026, 3, 28, 1, 30, tzinfo=UTC), datetime(2026, 3, 28, 2, 30),
         datetime(2026, 3, 28, 2, 30), "Europe/Berlin", None, False),
        (2, datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 3, 0),
         datetime(2026, 3, 29, 2, 30), "Europe/Berlin", "shifted_by_dst_gap", True),
        (3, datetime(2026, 3, 30, 0, 30, tzinfo=UTC), datetime(2026, 3, 30, 2, 30),
         datetime(2026, 3, 30, 2, 30), "Europe/Berlin", None, False),
    ]  # fmt: skip
    # Fixed hours in the repeated hour fire once, in the first pass.
    autumn = db.execute(
        "SELECT scheduled_for, dst_note FROM pgsched.preview_runs('new-york', 3,"
        " '2026-11-01T04:00:00Z')"
    ).fetchall()
    assert autumn == [
        (datetime(2026, 11, 1, 5, 0, tzinfo=UTC), None),
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), None),
        (datetime(2026, 11, 2, 6, 0, tzinfo=UTC), None),
    ]
    now = database_now(db)
    upcoming = db.execute("SELECT scheduled_for FROM pgsched.preview_runs('berlin')").fetchall()
    assert [row[0] for row in upcoming] == [
        fire.at for fire in parse_schedule("30 2 * * *", "Europe/Berlin").upcoming(now, 10)
    ]
    with pytest.raises(errors.NoDataFound, match="no job named 'nope'"):
        db.execute("SELECT * FROM pgsched.preview_runs('nope')")


# -- plans at scale -------------------------------------------------------------------------

PLAN_JOBS = 2_000
PLAN_RUNS = 300_000

FILL_RUNS = """
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, trigger, queue,
                          worker_id, started_at, finished_at, duration_ms, error)
SELECT j.id, j.name, s.slot, 1, s.status, 'schedule', 'default',
       CASE WHEN s.status = 'running' THEN 'w1' END,
       CASE WHEN s.status NOT IN ('pending', 'skipped') THEN s.slot + interval '20 ms' END,
       CASE WHEN s.status NOT IN ('pending', 'running')
            THEN s.slot + interval '20 ms' + (n %% 1000) * interval '1 ms' END,
       CASE WHEN s.status NOT IN ('pending', 'running', 'skipped') THEN n %% 1000 END,
       CASE WHEN s.status IN ('failed', 'timed_out', 'lost') THEN 'boom ' || n END
  FROM generate_series(1, %(runs)s) AS n
  JOIN pgsched.jobs AS j ON j.id = (SELECT min(id) FROM pgsched.jobs) + n %% %(jobs)s
 CROSS JOIN LATERAL (
        SELECT now() - interval '90 days'
                     + (n / %(jobs)s) * (interval '90 days' / (%(runs)s / %(jobs)s)) AS slot,
               CASE WHEN n > %(runs)s - 20 THEN 'running'
                    WHEN n > %(runs)s - 40 THEN 'pending'
                    WHEN n %% 100 < 90 THEN 'succeeded'
                    WHEN n %% 100 < 95 THEN 'failed'
                    WHEN n %% 100 < 96 THEN 'timed_out'
                    WHEN n %% 100 < 97 THEN 'lost'
                    WHEN n %% 100 < 99 THEN 'skipped'
                    ELSE 'cancelled' END AS status) AS s
"""


@pytest.fixture(scope="module")
def large_db(server_url: str, template_database: str) -> Iterator[Connection]:
    """300,000 runs of 2,000 jobs over 90 days, analysed: enough for realistic plans."""
    with (
        scratch_database(server_url, template=template_database) as url,
        psycopg.connect(url, autocommit=True) as connection,
    ):
        connection.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
            " SELECT 'job-' || n, '*/5 * * * *', 'sql', 'SELECT 1'"
            "   FROM generate_series(1, %s) AS n",
            [PLAN_JOBS],
        )
        connection.execute(FILL_RUNS, {"runs": PLAN_RUNS, "jobs": PLAN_JOBS})
        register_worker(connection, "w1", silent_for=SECOND)
        connection.execute("VACUUM ANALYZE pgsched.runs")
        connection.execute("ANALYZE pgsched.jobs")
        connection.execute("ANALYZE pgsched.daily_run_totals")
        yield connection


RUNS_SCANS = (
    "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relid = 'pgsched.runs'::regclass"
)


def runs_scans(db: Connection, statement: str) -> tuple[int, int]:
    """(sequential, index) scans of pgsched.runs that ``statement`` made, in full.

    The counters of this backend accumulate until they are flushed, which never
    happens inside a transaction: the difference across the statement is its own.
    """
    with db.transaction():
        before = one(db, RUNS_SCANS)
        db.execute(statement).fetchall()
        after = one(db, RUNS_SCANS)
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM pgsched.job_stats('job-7')",
        "SELECT * FROM pgsched.job_stats('job-7', 90)",
        "SELECT * FROM pgsched.job_timeline('job-7')",
        "SELECT * FROM pgsched.job_timeline('job-7', 24 * 30)",
        "SELECT * FROM pgsched.running_runs",
        "SELECT * FROM pgsched.failed_runs",
        "SELECT * FROM pgsched.scheduler_lag(60)",
        "SELECT * FROM pgsched.job_health WHERE job_name = 'job-7'",
        "SELECT * FROM pgsched.missed_runs",
        "SELECT * FROM pgsched.workers_alive",
        "SELECT * FROM pgsched.recent_runs ORDER BY id DESC LIMIT 20",
        "SELECT pgsched.cleanup_runs(365)",
    ],
)
def test_monitoring_paths_use_indexes_not_a_scan_of_runs(
    large_db: Connection, statement: str
) -> None:
    sequential, indexed = runs_scans(large_db, statement)
    assert sequential == 0
    assert indexed > 0


def test_job_success_rates_does_not_read_runs_at_all(large_db: Connection) -> None:
    assert runs_scans(large_db, "SELECT * FROM pgsched.job_success_rates") == (0, 0)
    rows = one(large_db, "SELECT count(*), sum(total_runs) FROM pgsched.job_success_rates")
    expected = one(
        large_db,
        f"SELECT count(DISTINCT job_name), count(*) FROM pgsched.runs WHERE status IN {COUNTED}"
        " AND scheduled_for >= (now() AT TIME ZONE 'UTC')::date - 29",
    )
    assert rows == expected


@pytest.mark.parametrize("view", ["failed_runs", "running_runs", "workers_alive"])
def test_view_plans_read_runs_through_an_index(large_db: Connection, view: str) -> None:
    plan = "\n".join(
        row[0] for row in large_db.execute(f"EXPLAIN SELECT * FROM pgsched.{view}")
    )  # test data only
    assert "Seq Scan on runs" not in plan
    assert "Index" in plan


def test_the_claim_path_indexes_are_unchanged(large_db: Connection) -> None:
    indexes = large_db.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'pgsched' AND tablename = 'runs'"
        " ORDER BY 1"
    ).fetchall()
    assert [row[0] for row in indexes] == [
        "runs_available_at_idx",
        "runs_job_id_active_idx",
        "runs_job_id_scheduled_for_attempt_key",
        "runs_pkey",
        "runs_status_finished_at_idx",
        "runs_worker_id_running_idx",
    ]


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
