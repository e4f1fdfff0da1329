"""The claim and finish queries against real PostgreSQL, without executing anything."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from pgsched.db.queries import query
from pgsched.engine.events import RunEvents
from pgsched.engine.finisher import Finisher
from pgsched.engine.planner import plan_job
from pgsched.engine.repository import ClaimResult, Repository, WorkerIdentity
from pgsched.errors import QueryFailed
from pgsched.models import Attempt, EndedAttempt, Outcome, RunStatus, Trigger
from tests.commands import add_job

Connection = psycopg.Connection[tuple[Any, ...]]


def make_due(db: Connection, job_id: int, seconds_ago: float = 0.5) -> None:
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - make_interval(secs => %s) WHERE id = %s",
        [seconds_ago, job_id],
    )


def runs(db: Connection, job_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT status, trigger, attempt, error, missed_slots FROM pgsched.runs"
        " WHERE job_id = %s ORDER BY scheduled_for, attempt",
        [job_id],
    ).fetchall()


async def register(repository: Repository, worker_id: str, lease: int = 30) -> None:
    identity = WorkerIdentity(worker_id, "host", 1, ("default",), 10, lease)
    with contextlib.suppress(QueryFailed):  # several claims by one worker: registered once
        await repository.register_worker(identity)


def claim(
    url: str, limit: int = 100, worker_id: str = "w1", ahead_seconds: float = 0.0
) -> ClaimResult:
    async def go() -> ClaimResult:
        repository = Repository(url, "test")
        try:
            await register(repository, worker_id)
            return await repository.claim_due_jobs(
                worker_id, ["default"], limit, plan_job, ahead_seconds
            )
        finally:
            await repository.close()

    return asyncio.run(go())


def finish(
    url: str, attempt: Attempt, outcome: Outcome, started_at: datetime | None = None
) -> list[int]:
    async def go() -> list[int]:
        repository = Repository(url, "test")
        try:
            ended = EndedAttempt(attempt, outcome, 1.0, started_at)
            return [row.run_id for row in await repository.finish_runs([ended])]
        finally:
            await repository.close()

    return asyncio.run(go())


def test_new_job_is_scheduled_from_now_without_firing(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "fresh", "*/5 * * * *")
    result = claim(database_url)
    assert result.attempts == []
    next_run, due_in_future = db.execute(
        "SELECT next_run, next_run > now() FROM pgsched.jobs WHERE id = %s", [job_id]
    ).fetchone() or (None, None)
    assert due_in_future and next_run.minute % 5 == 0 and next_run.second == 0
    assert runs(db, job_id) == []


def test_due_slot_starts_one_running_attempt_with_a_fence(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "due", "0 0 1 1 *")
    make_due(db, job_id)
    result = claim(database_url)
    assert [a.job_name for a in result.attempts] == ["due"]
    attempt = result.attempts[0]
    assert attempt.fence > 0 and attempt.attempt == 1 and attempt.trigger is Trigger.SCHEDULE
    row = db.execute(
        "SELECT status, worker_id, fence, claimed_at IS NOT NULL AND started_at IS NULL"
        " FROM pgsched.runs WHERE id = %s",
        [attempt.run_id],
    ).fetchone()
    assert row == ("running", "w1", attempt.fence, True)
    assert db.execute("SELECT next_run > now() FROM pgsched.jobs").fetchone() == (True,)


def test_concurrent_claimers_fire_each_slot_once(database_url: str, db: Connection) -> None:
    job_ids = [add_job(db, f"job-{i}", "* * * * * *") for i in range(60)]
    for job_id in job_ids:
        make_due(db, job_id)

    async def many() -> list[ClaimResult]:
        repositories = [Repository(database_url, f"t{i}") for i in range(4)]
        for i, repository in enumerate(repositories):
            await register(repository, f"w{i}")
        try:
            return await asyncio.gather(
                *(
                    r.claim_due_jobs(f"w{i}", ["default"], 20, plan_job)
                    for i, r in enumerate(repositories)
                )
            )
        finally:
            for repository in repositories:
                await repository.close()

    results = asyncio.run(many())
    claimed = [a.job_id for result in results for a in result.attempts]
    assert len(claimed) == len(set(claimed))
    duplicates = db.execute(
        "SELECT job_id, scheduled_for FROM pgsched.runs GROUP BY 1, 2 HAVING count(*) > 1"
    ).fetchall()
    assert duplicates == []


def test_slot_due_while_the_job_runs_is_recorded_skipped(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "slow", "0 0 1 1 *")
    make_due(db, job_id)
    first = claim(database_url).attempts[0]
    make_due(db, job_id, seconds_ago=0)
    assert claim(database_url).attempts == []
    statuses = runs(db, job_id)
    assert [s[0] for s in statuses] == ["running", "skipped"]
    assert f"run {first.run_id} of this job was still running" in statuses[1][3]


def test_overlap_replace_cancels_the_running_attempt(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "replace", "0 0 1 1 *", overlap="replace")
    make_due(db, job_id)
    first = claim(database_url).attempts[0]
    make_due(db, job_id, seconds_ago=0)
    result = claim(database_url)
    assert result.cancelled_run_ids == [first.run_id]
    assert [a.job_id for a in result.attempts] == [job_id]
    assert [s[0] for s in runs(db, job_id)] == ["cancelled", "running"]
    # The replaced attempt's late result is dropped by its fence.
    assert finish(database_url, first, Outcome.succeeded()) == []


def test_outcome_with_a_stale_fence_is_dropped(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "fenced", "0 0 1 1 *")
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    stale = Attempt(**{**attempt.__dict__, "fence": attempt.fence + 1000})
    assert finish(database_url, stale, Outcome.succeeded()) == []
    assert finish(database_url, attempt, Outcome.succeeded("ok")) == [attempt.run_id]
    assert runs(db, job_id)[0][0] == "succeeded"


def test_failed_attempt_gets_a_retry_with_backoff(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "flaky", "0 0 1 1 *", max_attempts=3, retry_delay_seconds=10)
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    finish(database_url, attempt, Outcome.failed("boom"))
    row = db.execute(
        "SELECT attempt, status, trigger, extract(epoch FROM available_at - now())"
        " FROM pgsched.runs WHERE job_id = %s AND attempt = 2",
        [job_id],
    ).fetchone()
    assert row is not None and row[:3] == (2, "pending", "retry")
    assert 5 - 1 <= float(row[3]) <= 10 + 1  # equal jitter: between half and all of 10 s


def test_permanent_failure_and_last_attempt_are_not_retried(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "permanent", "0 0 1 1 *", max_attempts=3)
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    finish(database_url, attempt, Outcome.failed("bad input", retryable=False))
    assert [s[:3] for s in runs(db, job_id)] == [("failed", "schedule", 1)]


def test_retry_delay_doubles_and_is_capped(db: Connection) -> None:
    rows = db.execute(
        "SELECT n, min(extract(epoch FROM pgsched.retry_delay(5, n))),"
        " max(extract(epoch FROM pgsched.retry_delay(5, n)))"
        " FROM generate_series(1, 12) AS n, generate_series(1, 200) GROUP BY n ORDER BY n"
    ).fetchall()
    for n, low, high in rows:
        full = min(3600, 5 * 2 ** (n - 1))
        assert full / 2 <= float(low) <= float(high) <= full


def test_dead_workers_runs_are_lost_and_retried_once(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "crashy", "0 0 1 1 *", max_attempts=2)
    make_due(db, job_id)
    claim(database_url, worker_id="w1")
    db.execute("UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '1 minute'")

    async def reap_twice() -> list[Any]:
        a, b = Repository(database_url, "a"), Repository(database_url, "b")
        try:
            return list(await asyncio.gather(a.reap_lost_runs("a"), b.reap_lost_runs("b")))
        finally:
            await a.close()
            await b.close()

    first, second = asyncio.run(reap_twice())
    assert len(first) + len(second) == 1
    assert [s[:3] for s in runs(db, job_id)] == [("lost", "schedule", 1), ("pending", "retry", 2)]
    assert db.execute("SELECT stopped_at IS NOT NULL FROM pgsched.workers").fetchone() == (True,)


def test_a_lapsed_worker_whose_row_is_held_loses_its_runs_and_is_stopped_later(
    database_url: str, db: Connection
) -> None:
    """A worker frozen inside a claim holds its own row FOR SHARE: the reaper cannot
    stop it, but its running attempts (of claims that committed) are recorded lost."""
    job_id = add_job(db, "frozen", "0 0 1 1 *", max_attempts=2)
    make_due(db, job_id)
    claim(database_url, worker_id="w1")
    db.execute("UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '1 minute'")

    def reap() -> list[Any]:
        return db.execute("SELECT run_id FROM pgsched.reap_lost_runs('w2')").fetchall()

    with psycopg.connect(database_url) as frozen:  # the frozen claim, left open
        frozen.execute("SELECT 1 FROM pgsched.workers WHERE id = 'w1' FOR SHARE")
        assert len(reap()) == 1
        lost_and_retried = [("lost", "schedule", 1), ("pending", "retry", 2)]
        assert [s[:3] for s in runs(db, job_id)] == lost_and_retried
        assert db.execute("SELECT stopped_at FROM pgsched.workers").fetchone() == (None,)
    assert reap() == []
    assert db.execute("SELECT stopped_at IS NOT NULL FROM pgsched.workers").fetchone() == (True,)


def test_run_now_is_started_by_the_pending_claim(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "manual", "0 0 1 1 *")
    run_id = db.execute("SELECT pgsched.run_now('manual')").fetchone()

    async def go() -> list[Attempt]:
        repository = Repository(database_url, "test")
        try:
            await register(repository, "w1")
            return await repository.claim_pending_runs("w1", ["default"], 10)
        finally:
            await repository.close()

    started = asyncio.run(go())
    assert [(a.run_id, a.trigger) for a in started] == [(run_id[0], Trigger.MANUAL)]
    assert runs(db, job_id)[0][:2] == ("running", "manual")


def test_run_now_of_an_unknown_job_says_so(db: Connection) -> None:
    with pytest.raises(psycopg.errors.NoDataFound, match="no job named 'nope'"):
        db.execute("SELECT pgsched.run_now('nope')")


def test_queue_limit_caps_running_attempts_across_workers(
    database_url: str, db: Connection
) -> None:
    db.execute("INSERT INTO pgsched.queue_limits (queue, max_running) VALUES ('default', 3)")
    for i in range(10):
        make_due(db, add_job(db, f"limited-{i}", "* * * * * *"))
    assert len(claim(database_url, worker_id="w1").attempts) == 3
    for (job_id,) in db.execute("SELECT id FROM pgsched.jobs").fetchall():
        make_due(db, job_id, seconds_ago=0)
    assert claim(database_url, worker_id="w2").attempts == []
    assert db.execute("SELECT count(*) FROM pgsched.runs WHERE status = 'running'").fetchone() == (
        3,
    )


def test_missed_slots_after_downtime_become_one_gap_row(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "downtime", "* * * * *")
    db.execute(
        "UPDATE pgsched.jobs SET next_run = date_trunc('minute', now()) - interval '10 minutes'"
    )
    result = claim(database_url)
    rows = runs(db, job_id)
    # run_once: one gap for the 10 late slots but the newest, which runs as a catch-up
    # (or on time, when the current minute's slot is within the threshold).
    assert rows[0][0] == "skipped" and rows[0][4] in (9, 10)
    assert [r[0] for r in rows[1:]] == ["running"]
    assert len(result.attempts) == 1


def test_retry_is_superseded_when_the_next_slot_starts(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "frequent", "0 0 1 1 *", max_attempts=3, retry_delay_seconds=60)
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    finish(database_url, attempt, Outcome.failed("boom"))
    make_due(db, job_id, seconds_ago=0)
    claim(database_url)
    statuses = [(s[0], s[1]) for s in runs(db, job_id)]
    assert ("skipped", "retry") in statuses
    superseded = next(s for s in runs(db, job_id) if s[1] == "retry")
    assert superseded[3].startswith("superseded")


def test_pending_runs_of_disabled_jobs_are_retired(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "disabled-later", "0 0 1 1 *", max_attempts=2)
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    finish(database_url, attempt, Outcome.failed("boom"))
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE id = %s", [job_id])
    assert db.execute("SELECT pgsched.retire_orphan_runs()").fetchone() == (1,)
    assert runs(db, job_id)[1][0] == "skipped"


def test_bulk_inserted_jobs_are_scheduled_in_batches(database_url: str, db: Connection) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " SELECT 'bulk-' || i, '@hourly', 'python', 'm:f' FROM generate_series(1, 1500) AS i"
    )

    async def go() -> list[int]:
        repository = Repository(database_url, "test")
        try:
            return [
                await repository.schedule_new_jobs(["default"], 1000, plan_job) for _ in range(3)
            ]
        finally:
            await repository.close()

    assert asyncio.run(go()) == [1000, 500, 0]
    assert db.execute(
        "SELECT count(*) FROM pgsched.jobs WHERE next_run > now()"
        " AND next_run <= now() + interval '1 hour'"
    ).fetchone() == (1500,)
    assert db.execute("SELECT count(*) FROM pgsched.runs").fetchone() == (0,)


def test_an_outcome_the_database_refuses_is_recorded_as_a_failure(
    database_url: str, db: Connection
) -> None:
    for name in ("poisoned", "healthy"):
        make_due(db, add_job(db, name, "0 0 1 1 *"))
    poisoned, healthy = sorted(claim(database_url).attempts, key=lambda a: a.job_name != "poisoned")
    refused = SimpleNamespace(
        status=SimpleNamespace(value="no-such-status"), error=None, output=None, retryable=False
    )

    async def go() -> None:
        finisher = Finisher(Repository(database_url, "test"), RunEvents(lambda: "w1"))
        task = asyncio.create_task(finisher.run())
        finisher.submit(EndedAttempt(poisoned, refused, 1.0, None))  # type: ignore[arg-type]
        finisher.submit(EndedAttempt(healthy, Outcome.succeeded(), 1.0, None))
        assert await finisher.flush(10)
        task.cancel()
        await finisher.close()

    asyncio.run(go())
    rows = dict(
        db.execute("SELECT job_name, status || ': ' || coalesce(error, '') FROM pgsched.runs")
    )
    assert rows["healthy"] == "succeeded: "
    assert rows["poisoned"].startswith("failed: pgsched could not record this outcome")


def start_pending(url: str, limit: int = 10, worker_id: str = "w1") -> list[Attempt]:
    async def go() -> list[Attempt]:
        repository = Repository(url, "test")
        try:
            await register(repository, worker_id)
            return await repository.claim_pending_runs(worker_id, ["default"], limit)
        finally:
            await repository.close()

    return asyncio.run(go())


def test_runs_waiting_behind_a_running_job_do_not_block_others(
    database_url: str, db: Connection
) -> None:
    slow = add_job(db, "slow-queue", "0 0 1 1 *", overlap="queue")
    make_due(db, slow)
    claim(database_url)  # slow-queue now runs
    for _ in range(3):
        db.execute("SELECT pgsched.run_now('slow-queue')")
    add_job(db, "other", "0 0 1 1 *")
    other_run = db.execute("SELECT pgsched.run_now('other')").fetchone()
    started = start_pending(database_url, limit=3)
    assert [a.run_id for a in started] == [other_run[0]]


def test_pending_starts_respect_the_queue_limit(database_url: str, db: Connection) -> None:
    db.execute("INSERT INTO pgsched.queue_limits (queue, max_running) VALUES ('default', 2)")
    for i in range(4):
        add_job(db, f"manual-{i}", "0 0 1 1 *")
        db.execute("SELECT pgsched.run_now(%s)", [f"manual-{i}"])
    assert len(start_pending(database_url)) == 2
    assert start_pending(database_url, worker_id="w2") == []


def test_capped_queues_share_the_claims_budget(database_url: str, db: Connection) -> None:
    db.execute("INSERT INTO pgsched.queue_limits (queue, max_running) VALUES ('b', 5), ('c', 5)")
    for queue in ("a", "b", "c"):
        for i in range(3):
            make_due(db, add_job(db, f"{queue}-{i}", "0 0 1 1 *", queue=queue))

    async def go() -> ClaimResult:
        repository = Repository(database_url, "test")
        try:
            await register(repository, "w1")
            return await repository.claim_due_jobs("w1", ["a", "b", "c"], 2, plan_job)
        finally:
            await repository.close()

    assert len(asyncio.run(go()).attempts) == 2


def test_runs_claimed_but_never_started_are_released(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "in-doubt", "0 0 1 1 *")
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    db.execute("UPDATE pgsched.runs SET claimed_at = now() - interval '1 minute'")

    async def release(held: list[int]) -> list[Any]:
        repository = Repository(database_url, "test")
        try:
            return await repository.release_unstarted_runs("w1", held, 30)
        finally:
            await repository.close()

    assert asyncio.run(release([attempt.run_id])) == []  # held: left alone
    assert [row["id"] for row in asyncio.run(release([]))] == [attempt.run_id]
    assert [s[:3] for s in runs(db, job_id)] == [("lost", "schedule", 1), ("pending", "retry", 2)]


def test_a_worker_never_reaps_itself(database_url: str, db: Connection) -> None:
    make_due(db, add_job(db, "own", "0 0 1 1 *"))
    claim(database_url, worker_id="w1")
    db.execute("UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '1 hour'")

    async def reap(caller: str) -> list[Any]:
        repository = Repository(database_url, "test")
        try:
            return await repository.reap_lost_runs(caller)
        finally:
            await repository.close()

    assert asyncio.run(reap("w1")) == []
    assert len(asyncio.run(reap("w2"))) == 1


def test_a_worker_declared_dead_claims_and_starts_nothing(
    database_url: str, db: Connection
) -> None:
    due = add_job(db, "due", "* * * * *")
    manual = add_job(db, "manual", "0 0 1 1 *")
    claim(database_url, worker_id="w1")  # registers w1 and schedules the jobs
    make_due(db, due)
    db.execute("SELECT pgsched.run_now('manual')")
    db.execute("UPDATE pgsched.workers SET stopped_at = now() WHERE id = 'w1'")
    assert claim(database_url, worker_id="w1").attempts == []
    assert start_pending(database_url, worker_id="w1") == []
    assert runs(db, due) == [] and [row[0] for row in runs(db, manual)] == ["pending"]
    # Another worker, alive, takes both.
    assert len(claim(database_url, worker_id="w2").attempts) == 1
    assert len(start_pending(database_url, worker_id="w2")) == 1


def test_an_interrupted_attempt_of_a_job_allowed_every_attempt_is_recorded_and_retried(
    database_url: str, db: Connection
) -> None:
    # "Two past the limit" must not overflow an int max_attempts: the statement that
    # failed took every outcome of its batch (and every release of unstarted runs) with it.
    job_id = add_job(db, "persistent", "0 0 1 1 *", max_attempts=2**31 - 1)
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    interrupted = Outcome(RunStatus.LOST, error="stopped by the worker's shutdown")
    assert finish(database_url, attempt, interrupted) == [attempt.run_id]
    assert [row[:3] for row in runs(db, job_id)] == [
        ("lost", "schedule", 1),
        ("pending", "retry", 2),
    ]


def test_the_retry_rule_counts_failures_and_forgives_interruptions(db: Connection) -> None:
    def next_attempt(status: str, attempt: int, retryable: bool, interrupted: bool) -> Any:
        row = db.execute(
            "SELECT extract(epoch FROM pgsched.next_attempt_at(%s, %s, 2, 10, %s, %s) - now())",
            [status, attempt, retryable, interrupted],
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    failed = next_attempt("failed", 1, True, False)
    assert failed is not None and 5 <= failed <= 10  # backoff, equal jitter
    assert next_attempt("failed", 2, True, False) is None  # max_attempts 2 reached
    assert next_attempt("timed_out", 1, False, False) is None  # not retryable
    assert next_attempt("succeeded", 1, True, False) is None
    assert next_attempt("lost", 1, True, False) is not None  # a dead worker: backoff
    # Interrupted by pgsched (shutdown, lost claim answer): at once, two past the limit.
    assert next_attempt("lost", 3, True, True) == 0.0
    assert next_attempt("lost", 4, True, True) is None


def test_consecutive_slots_skipped_behind_one_attempt_are_one_record(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "slow", "0 0 1 1 *")
    make_due(db, job_id, seconds_ago=3)
    claim(database_url)
    for seconds_ago in (2, 1, 0):
        make_due(db, job_id, seconds_ago=seconds_ago)
        claim(database_url)
    rows = db.execute(
        "SELECT status, missed_slots, missed_until > scheduled_for FROM pgsched.runs"
        " WHERE job_id = %s ORDER BY scheduled_for",
        [job_id],
    ).fetchall()
    assert rows == [("running", None, None), ("skipped", 3, True)]
    kinds = db.execute("SELECT kind, missed_slots FROM pgsched.missed_runs").fetchall()
    assert kinds == [("skipped", 3)]


def test_a_slot_due_within_the_window_is_claimed_ahead_unless_its_job_runs(
    database_url: str, db: Connection
) -> None:
    soon = add_job(db, "soon", "0 0 1 1 *")
    busy = add_job(db, "busy", "0 0 1 1 *")
    make_due(db, busy)
    claim(database_url)  # busy now runs
    for job_id in (soon, busy):
        make_due(db, job_id, seconds_ago=-0.3)
    assert claim(database_url).attempts == []  # no window: nothing due yet
    result = claim(database_url, ahead_seconds=0.5)
    (ahead,) = result.attempts
    assert ahead.job_id == soon and ahead.clock is not None
    assert ahead.scheduled_for > ahead.clock.database_now  # held until its instant
    claimed_at, started_at = db.execute(
        "SELECT claimed_at, started_at FROM pgsched.runs WHERE id = %s", [ahead.run_id]
    ).fetchone() or (None, None)
    assert claimed_at < ahead.scheduled_for and started_at is None


def test_the_outcome_records_when_the_attempt_began(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "timed", "0 0 1 1 *")
    make_due(db, job_id)
    attempt = claim(database_url).attempts[0]
    began = attempt.scheduled_for + timedelta(milliseconds=700)
    finish(database_url, attempt, Outcome.succeeded(), started_at=began)
    lag = db.execute(
        "SELECT extract(epoch FROM started_at - scheduled_for) FROM pgsched.runs WHERE id = %s",
        [attempt.run_id],
    ).fetchone()
    assert lag is not None and float(lag[0]) == pytest.approx(0.7)


def test_a_stopping_worker_hands_unstarted_slots_back_for_others(
    database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "held", "0 0 1 1 *")
    make_due(db, job_id, seconds_ago=-0.3)
    slot = scalar_value(db, "SELECT next_run FROM pgsched.jobs")
    held = claim(database_url, ahead_seconds=0.5).attempts[0]
    assert held.scheduled_for == slot
    assert scalar_value(db, "SELECT next_run > %s FROM pgsched.jobs", [slot])

    async def release(pairs: list[tuple[int, int]]) -> list[int]:
        repository = Repository(database_url, "test")
        try:
            return await repository.release_held_runs(pairs)
        finally:
            await repository.close()

    assert asyncio.run(release([(held.run_id, held.fence + 1)])) == []  # not ours any more
    assert asyncio.run(release([(held.run_id, held.fence)])) == [held.run_id]
    assert scalar_value(db, "SELECT count(*) FROM pgsched.runs") == 0
    assert scalar_value(db, "SELECT next_run FROM pgsched.jobs") == slot
    again = claim(database_url, worker_id="w2", ahead_seconds=0.5).attempts
    assert [(a.job_id, a.scheduled_for) for a in again] == [(job_id, slot)]


def scalar_value(db: Connection, sql: str, params: list[Any] | None = None) -> Any:
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def test_worker_round_queries_read_their_queues_first_entries_only(db: Connection) -> None:
    # 20,000 jobs due in one queue must cost nothing to a worker of another queue.
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run, queue)"
        " SELECT 'busy-' || n, '@hourly', 'sql', 'SELECT 1', now() - interval '1 s', 'busy'"
        "   FROM generate_series(1, 20000) AS n"
    )
    add_job(db, "quiet", "0 0 1 1 *", queue="quiet")
    db.execute("VACUUM ANALYZE pgsched.jobs")
    db.execute("INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w', 'h', 1, 1)")
    blocks = {
        "next_due_in": {"queues": ["quiet"]},
        "claim_due_jobs": {
            "worker_id": "w",
            "queues": ["quiet"],
            "limit": 100,
            "ahead_seconds": 0.5,
        },
    }
    for name, params in blocks.items():
        statement = psycopg.ClientCursor(db).mogrify(query(name), params)
        db.execute("BEGIN")
        plan = "\n".join(
            row[0] for row in db.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement)
        )
        db.execute("ROLLBACK")
        assert "Seq Scan on jobs" not in plan, plan
        buffers = sum(int(n) for n in re.findall(r"shared hit=(\d+)", plan.split("\n")[1]))
        assert buffers < 100, plan
