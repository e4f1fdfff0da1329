"""Monitoring in SQL: failed_runs, running_runs, workers_alive, recent_runs, job_health,
missed_runs and scheduler_lag."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from tests.commands import add_job, database_now
from tests.monitoring import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    Connection,
    add_run,
    one,
    one_instant,
    register_worker,
)

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
