"""Circuit breakers in the database: what counts as a failed slot, what the claim
does while one is open or half-open, and the operator's reset."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from pgsched.engine.repository import FinishedRun, Repository
from pgsched.models import Attempt, EndedAttempt, Outcome
from tests.commands import add_job
from tests.integration.test_claims import claim, make_due, register

Connection = psycopg.Connection[tuple[Any, ...]]
NEVER = "0 0 1 1 *"


def finish(url: str, attempt: Attempt, outcome: Outcome) -> FinishedRun:
    async def go() -> FinishedRun:
        repository = Repository(url, "test")
        try:
            return (await repository.finish_runs([EndedAttempt(attempt, outcome, 1.0, None)]))[0]
        finally:
            await repository.close()

    return asyncio.run(go())


def claim_pending(url: str) -> list[Attempt]:
    async def go() -> list[Attempt]:
        repository = Repository(url, "test")
        try:
            await register(repository, "w1")
            return await repository.claim_pending_runs("w1", ["default"], 10)
        finally:
            await repository.close()

    return asyncio.run(go())


def breaker(db: Connection, job_id: int) -> tuple[Any, ...] | None:
    return db.execute(
        "SELECT state, failed_slots FROM pgsched.job_breakers WHERE job_id = %s", [job_id]
    ).fetchone()


def fail_one_slot(url: str, db: Connection, job_id: int) -> FinishedRun:
    make_due(db, job_id)
    attempt = claim(url).attempts[0]
    return finish(url, attempt, Outcome.failed("provider down"))


def wait_until_due(db: Connection, job_id: int) -> None:
    """Sleep until the job's next_run (a whole second, one slot) has passed."""
    row = db.execute(
        "SELECT extract(epoch FROM next_run - now()) FROM pgsched.jobs WHERE id = %s", [job_id]
    ).fetchone()
    assert row is not None
    time.sleep(max(0.0, float(row[0])) + 0.05)


def open_breaker(db: Connection, job_id: int, until: str) -> None:
    db.execute(
        "INSERT INTO pgsched.job_breakers (job_id, state, failed_slots, opened_at, open_until)"
        " VALUES (%s, 'open', 3, now(), now() + %s::interval)",
        [job_id, until],
    )


def test_a_slot_counts_once_when_its_last_attempt_fails_not_at_each_retry(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "flaky", NEVER, max_attempts=2, retry_delay_seconds=0, breaker_failures=2)
    first = fail_one_slot(database_url, db, job_id)
    assert first.retry_run_id is not None and breaker(db, job_id) is None
    retry = claim_pending(database_url)[0]
    last = finish(database_url, retry, Outcome.failed("still down"))
    assert last.retry_run_id is None and last.breaker_transition is None
    assert breaker(db, job_id) == ("closed", 1)


def test_consecutive_failed_slots_open_it_and_a_success_clears_the_count(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments", NEVER, breaker_failures=2, breaker_cooldown_seconds=60)
    fail_one_slot(database_url, db, job_id)
    make_due(db, job_id)
    finish(database_url, claim(database_url).attempts[0], Outcome.succeeded())
    assert breaker(db, job_id) is None  # the count restarts after a success
    fail_one_slot(database_url, db, job_id)
    opened = fail_one_slot(database_url, db, job_id)
    assert opened.breaker_transition == "open" and opened.breaker_failed_slots == 2
    assert db.execute(
        "SELECT state, open_until - opened_at FROM pgsched.job_breakers WHERE job_id = %s",
        [job_id],
    ).fetchone() == ("open", timedelta(seconds=60))


def test_while_open_due_slots_are_recorded_skipped_then_one_probe_slot_runs(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments", "* * * * * *", breaker_failures=3)
    open_breaker(db, job_id, "1 hour")
    make_due(db, job_id, seconds_ago=2.5)  # three or four slots due at once
    assert claim(database_url).attempts == []
    skipped = db.execute(
        "SELECT status, missed_slots, error FROM pgsched.runs WHERE job_id = %s", [job_id]
    ).fetchall()
    assert len(skipped) == 1 and skipped[0][0] == "skipped" and skipped[0][1] >= 3
    assert skipped[0][2].startswith("circuit breaker open until ")
    db.execute(
        "UPDATE pgsched.jobs SET next_run = date_trunc('second', now()) + interval '1 second'"
    )
    wait_until_due(db, job_id)
    assert claim(database_url).attempts == []
    # The next skipped slot extends the same record: one row for the whole cool-down.
    assert db.execute(
        "SELECT count(*), max(missed_slots) FROM pgsched.runs WHERE job_id = %s", [job_id]
    ).fetchone() == (1, skipped[0][1] + 1)

    db.execute("UPDATE pgsched.job_breakers SET open_until = now() - interval '10 seconds'")
    make_due(db, job_id, seconds_ago=0.5)
    result = claim(database_url)
    (probe,) = result.attempts
    assert result.probes == [("payments", "default", probe.scheduled_for)]
    assert db.execute(
        "SELECT state, probe_slot = %s FROM pgsched.job_breakers", [probe.scheduled_for]
    ).fetchone() == ("half_open", True)
    # Half-open: another slot waits for the probe's outcome, recorded skipped.
    make_due(db, job_id, seconds_ago=0.1)
    assert claim(database_url).attempts == []
    last_error = db.execute(
        "SELECT error FROM pgsched.runs WHERE job_id = %s ORDER BY scheduled_for DESC LIMIT 1",
        [job_id],
    ).fetchone()
    assert last_error is not None and last_error[0].startswith("circuit breaker half-open")

    reopened = finish(database_url, probe, Outcome.failed("still down"))
    assert reopened.breaker_transition == "open"
    assert breaker(db, job_id) == ("open", 4)


def test_a_manual_run_while_open_is_a_probe_its_success_closes_the_breaker(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments", NEVER, breaker_failures=3)
    open_breaker(db, job_id, "1 hour")
    db.execute("SELECT pgsched.run_now('payments')")
    (manual,) = claim_pending(database_url)
    closed = finish(database_url, manual, Outcome.succeeded())
    assert closed.breaker_transition == "closed" and breaker(db, job_id) is None
    assert db.execute(
        "SELECT breaker_state, breaker_failed_slots, breaker_open_until FROM pgsched.job_health"
    ).fetchone() == ("closed", 0, None)


def test_a_lost_attempt_with_no_retry_left_is_a_failed_slot(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "crashy", NEVER, breaker_failures=1)
    make_due(db, job_id)
    claim(database_url, worker_id="w1")
    db.execute("UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '1 minute'")

    async def reap() -> list[Any]:
        repository = Repository(database_url, "reaper")
        try:
            return await repository.reap_lost_runs("reaper")
        finally:
            await repository.close()

    (row,) = asyncio.run(reap())
    assert (row["breaker_transition"], row["breaker_queue"]) == ("open", "default")
    assert breaker(db, job_id) == ("open", 1)


def test_jobs_without_a_breaker_keep_no_breaker_state(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "plain", NEVER)
    for _ in range(3):
        assert fail_one_slot(database_url, db, job_id).breaker_transition is None
    assert db.execute("SELECT count(*) FROM pgsched.job_breakers").fetchone() == (0,)
    assert db.execute("SELECT breaker_state FROM pgsched.job_health").fetchone() == (None,)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("breaker_failures", 0, "pgsched.jobs.breaker_failures: 0 must be positive"),
        ("breaker_cooldown_seconds", -5, "pgsched.jobs.breaker_cooldown_seconds: -5 must be"),
    ],
)
def test_breaker_settings_are_refused_with_the_column_named(
    db: Connection, column: str, value: int, message: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match=message):
        add_job(db, "bad", NEVER, **{column: value})
    add_job(db, "good", NEVER)
    with pytest.raises(psycopg.errors.CheckViolation, match=message):
        db.execute(f"UPDATE pgsched.jobs SET {column} = %s", [value])


def test_reset_breaker_closes_it_by_hand_and_is_in_the_audit_trail(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments", NEVER, breaker_failures=3)
    open_breaker(db, job_id, "1 hour")
    assert db.execute("SELECT pgsched.reset_breaker('payments')").fetchone() == ("open",)
    assert breaker(db, job_id) is None
    assert db.execute("SELECT pgsched.reset_breaker('payments')").fetchone() == ("closed",)
    change = db.execute(
        "SELECT change, old_values ->> 'breaker_state', new_values ->> 'breaker_state'"
        " FROM pgsched.job_changes WHERE change = 'reset_breaker'"
    ).fetchall()
    assert change == [("reset_breaker", "open", "closed")]
    with pytest.raises(psycopg.errors.NoDataFound, match="no job named 'nope'"):
        db.execute("SELECT pgsched.reset_breaker('nope')")


def test_a_retry_superseded_by_the_next_slot_ends_its_slot_failed(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(
        db, "slow-retries", NEVER, max_attempts=3, retry_delay_seconds=3600, breaker_failures=1
    )
    first = fail_one_slot(database_url, db, job_id)
    assert first.retry_run_id is not None and breaker(db, job_id) is None
    make_due(db, job_id)
    result = claim(database_url)  # the next slot starts: the waiting retry is superseded
    (opened,) = result.opened
    assert (opened["run_id"], opened["transition"]) == (first.retry_run_id, "open")
    assert breaker(db, job_id) == ("open", 1)


def test_a_probe_slot_released_by_a_stopping_worker_is_the_probe_again(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments", "* * * * * *", breaker_failures=3)
    open_breaker(db, job_id, "-10 seconds")
    make_due(db, job_id, seconds_ago=0.5)
    (probe,) = claim(database_url).attempts

    async def release() -> list[int]:
        repository = Repository(database_url, "stopping")
        try:
            return await repository.release_held_runs([(probe.run_id, probe.fence)])
        finally:
            await repository.close()

    assert asyncio.run(release()) == [probe.run_id]
    assert breaker(db, job_id) == ("open", 3)
    (again,) = claim(database_url).attempts
    assert again.scheduled_for == probe.scheduled_for
    assert db.execute("SELECT state FROM pgsched.job_breakers").fetchone() == ("half_open",)
