"""Slots without double counting: job_stats counts each slot once beside its attempts,
and failed_runs and running_runs name the shard."""

from __future__ import annotations

from decimal import Decimal

from pgsched.catalog import jobs
from pgsched.db.connection import session
from tests.commands import add_job
from tests.monitoring import DAY, HOUR, SECOND, Connection, add_run, one, one_instant

SLOT_FIGURES = "slots, succeeded_slots, failed_slots, slot_success_rate"
RUN_FIGURES = "total_runs, successful_runs, failed_runs"


def test_a_sharded_slot_counts_once_and_fails_when_one_shard_finally_failed(
    db: Connection,
) -> None:
    with one_instant(db) as now:
        add_job(db, "fanout", shards=4, max_attempts=2)
        for days_ago in (1, 2, 3):
            slot = now - days_ago * DAY
            for shard in range(4):
                add_run(db, "fanout", "succeeded", slot, duration_ms=1.0, shard=shard)
        # In the oldest slot shard 2 failed, was retried, and failed again: the slot
        # failed. In the newest, shard 1 failed once and its retry succeeded.
        oldest, newest = now - 3 * DAY, now - DAY
        db.execute(
            "UPDATE pgsched.runs SET status = 'failed' WHERE scheduled_for = %s AND shard = 2",
            [oldest],
        )
        add_run(
            db, "fanout", "failed", oldest, duration_ms=1.0, shard=2, attempt=2, trigger="retry"
        )
        db.execute(
            "UPDATE pgsched.runs SET status = 'failed' WHERE scheduled_for = %s AND shard = 1",
            [newest],
        )
        add_run(
            db, "fanout", "succeeded", newest, duration_ms=1.0, shard=1, attempt=2, trigger="retry"
        )
        runs = one(db, f"SELECT {RUN_FIGURES} FROM pgsched.job_stats('fanout')")
        slots = one(db, f"SELECT {SLOT_FIGURES} FROM pgsched.job_stats('fanout')")
    # Attempts, as before: 14 with an outcome, 11 succeeded, 3 failed.
    assert runs == (14, 11, 3)
    assert slots == (3, 2, 1, Decimal("66.67"))


def test_a_retry_that_succeeded_makes_one_succeeded_slot(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "flaky", max_attempts=3)
        slot = now - HOUR
        add_run(db, "flaky", "failed", slot, duration_ms=1.0)
        add_run(db, "flaky", "timed_out", slot, duration_ms=1.0, attempt=2, trigger="retry")
        add_run(db, "flaky", "succeeded", slot, duration_ms=1.0, attempt=3, trigger="retry")
        figures = one(db, f"SELECT {RUN_FIGURES}, {SLOT_FIGURES} FROM pgsched.job_stats('flaky')")
    assert figures == (3, 1, 2, 1, 1, 0, Decimal("100.00"))


def test_a_slot_with_a_shard_still_running_or_cancelled_is_not_counted_yet(
    db: Connection,
) -> None:
    with one_instant(db) as now:
        add_job(db, "wide", shards=3)
        running, cancelled = now - 2 * HOUR, now - HOUR
        add_run(db, "wide", "failed", running, duration_ms=1.0, shard=0)
        add_run(db, "wide", "succeeded", running, duration_ms=1.0, shard=1)
        add_run(db, "wide", "running", running, shard=2)
        add_run(db, "wide", "succeeded", cancelled, duration_ms=1.0, shard=0)
        add_run(db, "wide", "succeeded", cancelled, duration_ms=1.0, shard=1)
        add_run(db, "wide", "cancelled", cancelled, duration_ms=1.0, shard=2)
        figures = one(db, f"SELECT {SLOT_FIGURES} FROM pgsched.job_stats('wide')")
    # As job_slot_outcomes reads them: one slot running, the other cancelled.
    assert figures == (0, 0, 0, None)


def test_failed_runs_and_running_runs_name_the_shard(db: Connection) -> None:
    with one_instant(db) as now:
        add_job(db, "fanout", shards=4)
        failed = add_run(db, "fanout", "failed", now - HOUR, duration_ms=1.0, shard=3)
        running = add_run(db, "fanout", "running", now - SECOND, shard=2)
        add_run(db, "fanout", "succeeded", now - HOUR, duration_ms=1.0, shard=0)
        failures = db.execute("SELECT id, shard FROM pgsched.failed_runs").fetchall()
        runs = db.execute("SELECT id, shard FROM pgsched.running_runs").fetchall()
    assert failures == [(failed, 3)]
    assert runs == [(running, 2)]


def test_the_last_status_of_a_sharded_job_is_its_latest_slots_outcome(
    database_url: str, db: Connection
) -> None:
    with one_instant(db) as now:
        job_id = add_job(db, "fanout", shards=4, max_attempts=2)
        add_run(db, "fanout", "succeeded", now - 2 * HOUR, duration_ms=1.0)
        slot = now - HOUR
        # Shards 0, 2 and 3 succeeded at their second attempt; shard 1 failed at its
        # first and last. The latest attempt of the slot is a success; the slot failed.
        for shard in range(4):
            add_run(db, "fanout", "failed", slot, duration_ms=1.0, shard=shard)
        for shard in (0, 2, 3):
            add_run(
                db,
                "fanout",
                "succeeded",
                slot,
                duration_ms=1.0,
                shard=shard,
                attempt=2,
                trigger="retry",
            )
        failed_shard = one(
            db,
            "SELECT id FROM pgsched.runs WHERE job_id = %s AND scheduled_for = %s AND shard = 1",
            [job_id, slot],
        )[0]
        health = one(
            db,
            "SELECT last_run_id, last_run_scheduled_for, last_run_status FROM pgsched.job_health"
            " WHERE job_name = 'fanout'",
        )
    with session(database_url, "pgsched-test") as connection:
        listed = {row["name"]: row["last_status"] for row in jobs.list_jobs(connection)}
        facts = jobs.job_facts(connection, "fanout")
    assert health == (failed_shard, slot, "failed")
    assert listed == {"fanout": "failed"}
    assert (facts["last_run_id"], facts["last_run_status"]) == (failed_shard, "failed")


def test_a_change_of_shards_alone_is_in_the_audit_trail(db: Connection) -> None:
    job_id = add_job(db, "fanout", shards=2)
    inserted = one(
        db,
        "SELECT new_values->'shards' FROM pgsched.job_changes"
        " WHERE job_id = %s AND change = 'insert'",
        [job_id],
    )
    db.execute("UPDATE pgsched.jobs SET shards = 8 WHERE id = %s", [job_id])
    change = one(
        db,
        "SELECT change, old_values, new_values FROM pgsched.job_changes"
        " WHERE job_id = %s ORDER BY id DESC LIMIT 1",
        [job_id],
    )
    assert inserted == (2,)
    assert change == ("update", {"shards": 2}, {"shards": 8})


def test_the_timeline_counts_each_slot_of_an_hour_once_beside_its_attempts(
    db: Connection,
) -> None:
    with one_instant(db) as now:
        add_job(db, "fanout", shards=2, max_attempts=2)
        slot = now.replace(minute=0, second=0, microsecond=0) - HOUR
        add_run(db, "fanout", "failed", slot, duration_ms=1.0, shard=0)
        add_run(db, "fanout", "succeeded", slot, duration_ms=1.0, shard=0, attempt=2)
        add_run(db, "fanout", "succeeded", slot, duration_ms=1.0, shard=1)
        hours = db.execute(
            "SELECT executions, successes, failures, slots, succeeded_slots, failed_slots"
            " FROM pgsched.job_timeline('fanout', 3)"
        ).fetchall()
    assert hours == [(0, 0, 0, 0, 0, 0), (3, 2, 1, 1, 1, 0), (0, 0, 0, 0, 0, 0)]
