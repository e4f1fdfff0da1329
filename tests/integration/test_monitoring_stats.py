"""Monitoring in SQL: job_stats, job_timeline, job_success_rates and the daily totals."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from psycopg import errors

from tests.commands import add_job, database_now
from tests.monitoring import (
    COUNTED,
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    Connection,
    add_run,
    as_if_unrolled_for,
    one,
    one_instant,
    totals_disagree_with_runs,
)

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
        7,  # one attempt per slot: as many slots that ended as runs
        4,
        3,
        Decimal("57.14"),
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
        assert one(
            db, "SELECT total_runs, successful_runs, slots FROM pgsched.job_stats('new-name')"
        ) == (2, 1, 2)
        db.execute("DELETE FROM pgsched.jobs WHERE name = 'new-name'")
        assert one(
            db,
            "SELECT total_runs, failed_runs, slots, failed_slots"
            " FROM pgsched.job_stats('new-name')",
        ) == (1, 1, 1, 1)


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
        # time_bucket, executions, successes, failures, avg_duration_ms, then slots,
        # succeeded_slots, failed_slots: one attempt a slot here, the running and
        # cancelled slots not counted.
        (this_hour - 4 * HOUR, 0, 0, 0, None, 0, 0, 0),
        (this_hour - 3 * HOUR, 2, 0, 0, None, 0, 0, 0),
        (this_hour - 2 * HOUR, 0, 0, 0, None, 0, 0, 0),
        (this_hour - HOUR, 3, 2, 1, 200.0, 3, 2, 1),
        (this_hour, 1, 1, 0, 50.0, 1, 1, 0),
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
    # 35 days back and stop 6 days back, and the view leaves out what has left the
    # window since and adds the days after them from the daily totals.
    as_if_unrolled_for(db, 6)
    assert totals_disagree_with_runs(db) == []
    assert db.execute("SELECT * FROM pgsched.job_success_rates ORDER BY job_name").fetchall() == (
        expected
    )
    # The next outcome recorded moves the start forward.
    add_run(db, "daily", "lost", now + MINUTE, duration_ms=None)
    assert one(
        db,
        "SELECT first_day = (now() AT TIME ZONE 'UTC')::date - 29,"
        " next_day = (now() AT TIME ZONE 'UTC')::date"
        " FROM pgsched.recent_run_totals_starts",
    ) == (True, True)
    assert totals_disagree_with_runs(db) == []
    assert one(db, "SELECT count(*) FROM pgsched.recent_run_totals WHERE job_name = 'old'") == (0,)
    assert db.execute("SELECT * FROM pgsched.job_success_rates ORDER BY job_name").fetchall() == (
        db.execute(SUCCESS_RATES_FROM_RUNS).fetchall()
    )


def test_an_outcome_of_todays_slot_writes_the_daily_totals_alone(db: Connection) -> None:
    now = database_now(db)
    today = one(db, "SELECT (now() AT TIME ZONE 'UTC')::date")[0]
    add_job(db, "job")
    add_run(db, "job", "running", now)
    add_run(db, "job", "running", now - SECOND)
    # A worker's batch of outcomes: one totals row written per job, its day's.
    db.execute(
        "UPDATE pgsched.runs SET status = 'succeeded', finished_at = now(),"
        " duration_ms = 10 WHERE job_name = 'job'"
    )
    assert one(db, "SELECT next_day FROM pgsched.recent_run_totals_starts") == (today,)
    assert one(db, "SELECT count(*) FROM pgsched.recent_run_totals") == (0,)
    assert one(
        db, "SELECT successful_runs FROM pgsched.daily_run_totals WHERE job_name = 'job'"
    ) == (2,)
    assert one(db, "SELECT successful_runs, avg_duration_ms FROM pgsched.job_success_rates") == (
        2,
        10.0,
    )
    # An outcome of an earlier day of the window still counts in both.
    add_run(db, "job", "failed", now - 2 * DAY, duration_ms=40.0)
    assert one(db, "SELECT successful_runs, failed_runs FROM pgsched.recent_run_totals") == (
        0,
        1,
    )
    assert one(
        db, "SELECT successful_runs, failed_runs, avg_duration_ms FROM pgsched.job_success_rates"
    ) == (2, 1, 20.0)
    assert totals_disagree_with_runs(db) == []


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
