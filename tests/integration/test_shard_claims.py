"""Shards through the claim, start, finish, hand-back and recovery queries, against
real PostgreSQL and without executing anything."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg

from pgsched.engine.repository import Repository
from pgsched.models import Attempt, Outcome
from tests.commands import add_job
from tests.integration.test_claims import claim, finish, make_due, register

Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")


def with_repository(url: str, action: Callable[[Repository], Awaitable[T]]) -> T:
    async def go() -> T:
        repository = Repository(url, "test")
        try:
            await register(repository, "w1")
            return await action(repository)
        finally:
            await repository.close()

    return asyncio.run(go())


def start_pending(url: str, limit: int = 100) -> list[Attempt]:
    return with_repository(url, lambda r: r.claim_pending_runs("w1", ["default"], limit))


def shard_runs(db: Connection, job_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT shard, attempt, status, trigger FROM pgsched.runs WHERE job_id = %s"
        " ORDER BY scheduled_for, shard, attempt",
        [job_id],
    ).fetchall()


def sharded_job(db: Connection, name: str, shards: int, **columns: Any) -> int:
    job_id = add_job(db, name, "0 0 1 1 *", shards=shards, **columns)
    make_due(db, job_id)
    return job_id


def test_a_slot_starts_shard_zero_and_leaves_the_others_to_any_worker(
    database_url: str, db: Connection
) -> None:
    job_id = sharded_job(db, "fan", 3)
    started = claim(database_url).attempts
    assert [(a.shard, a.shards) for a in started] == [(0, 3)]
    assert shard_runs(db, job_id) == [
        (0, 1, "running", "schedule"),
        (1, 1, "pending", "schedule"),
        (2, 1, "pending", "schedule"),
    ]
    # overlap=skip (the default) does not keep a slot's own shards apart.
    others = start_pending(database_url)
    assert sorted((a.shard, a.shards, a.attempt) for a in others) == [(1, 3, 1), (2, 3, 1)]


def test_a_failed_shard_is_retried_alone_as_the_same_shard(
    database_url: str, db: Connection
) -> None:
    job_id = sharded_job(db, "retry-one", 3, max_attempts=2, retry_delay_seconds=0)
    first = claim(database_url).attempts[0]
    others = start_pending(database_url)
    failing = next(a for a in others if a.shard == 2)
    finish(database_url, failing, Outcome.failed("boom"))
    retry = start_pending(database_url)
    assert [(a.shard, a.attempt) for a in retry] == [(2, 2)]
    for attempt in [first, *(a for a in others if a.shard != 2), *retry]:
        finish(database_url, attempt, Outcome.succeeded())
    assert shard_runs(db, job_id) == [
        (0, 1, "succeeded", "schedule"),
        (1, 1, "succeeded", "schedule"),
        (2, 1, "failed", "schedule"),
        (2, 2, "succeeded", "retry"),
    ]
    outcome = db.execute(
        "SELECT status, attempts, shards, failed_shards FROM pgsched.job_slot_outcomes(%s)",
        [["retry-one"]],
    ).fetchall()
    assert outcome == [("succeeded", 2, 3, 0)]


def test_overlap_skip_skips_a_new_slot_while_a_shard_of_the_last_has_not_started(
    database_url: str, db: Connection
) -> None:
    job_id = sharded_job(db, "skip-while-waiting", 2)
    first = claim(database_url).attempts[0]
    finish(database_url, first, Outcome.succeeded())
    # Shard 1 still waits for a worker: the slot is unfinished.
    make_due(db, job_id)
    assert claim(database_url).attempts == []
    statuses = [row[2] for row in shard_runs(db, job_id)]
    assert statuses == ["succeeded", "pending", "skipped"]
    skipped = db.execute(
        "SELECT shard, error FROM pgsched.runs WHERE job_id = %s AND status = 'skipped'",
        [job_id],
    ).fetchone()
    assert skipped is not None and skipped[0] == 0 and "overlap=skip" in skipped[1]


def test_overlap_replace_cancels_every_unfinished_shard_of_the_old_slot(
    database_url: str, db: Connection
) -> None:
    job_id = sharded_job(db, "replaced", 3, overlap="replace")
    claim(database_url)
    start_pending(database_url, limit=1)
    make_due(db, job_id)
    result = claim(database_url)
    assert [a.shard for a in result.attempts] == [0]
    old = db.execute(
        "SELECT shard, status FROM pgsched.runs WHERE job_id = %s"
        " AND scheduled_for = (SELECT min(scheduled_for) FROM pgsched.runs WHERE job_id = %s)"
        " ORDER BY shard",
        [job_id, job_id],
    ).fetchall()
    assert old == [(0, "cancelled"), (1, "cancelled"), (2, "cancelled")]


def test_a_shard_handed_back_at_shutdown_waits_for_another_worker(
    database_url: str, db: Connection
) -> None:
    job_id = sharded_job(db, "handed-back", 2)
    first = claim(database_url).attempts[0]
    next_run = db.execute("SELECT next_run FROM pgsched.jobs WHERE id = %s", [job_id]).fetchone()
    released = with_repository(
        database_url, lambda r: r.release_held_runs([(first.run_id, first.fence)])
    )
    assert released == [first.run_id]
    assert [row[:3] for row in shard_runs(db, job_id)] == [(0, 1, "pending"), (1, 1, "pending")]
    # The slot stays claimed: its siblings may already run elsewhere.
    assert db.execute("SELECT next_run FROM pgsched.jobs WHERE id = %s", [job_id]).fetchone() == (
        next_run
    )
    assert sorted(a.shard for a in start_pending(database_url)) == [0, 1]


def test_a_lost_shard_is_retried_as_that_shard(database_url: str, db: Connection) -> None:
    job_id = sharded_job(db, "lost-shard", 2, max_attempts=2, retry_delay_seconds=0)
    claim(database_url)
    start_pending(database_url)
    db.execute("UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '1 hour'")
    reaped = with_repository(database_url, lambda r: r.reap_lost_runs("someone-else"))
    assert len(reaped) == 2 and all(row["retry_run_id"] for row in reaped)
    retries = db.execute(
        "SELECT shard, attempt, status FROM pgsched.runs WHERE job_id = %s AND attempt = 2"
        " ORDER BY shard",
        [job_id],
    ).fetchall()
    assert retries == [(0, 2, "pending"), (1, 2, "pending")]


def test_run_now_queues_one_manual_attempt_per_shard(database_url: str, db: Connection) -> None:
    job_id = add_job(db, "manual-fan", "0 0 1 1 *", shards=4)
    run_id = db.execute("SELECT pgsched.run_now('manual-fan')").fetchone()
    rows = shard_runs(db, job_id)
    assert rows == [(shard, 1, "pending", "manual") for shard in range(4)]
    assert db.execute("SELECT shard FROM pgsched.runs WHERE id = %s", run_id).fetchone() == (0,)
    assert db.execute(
        "SELECT count(DISTINCT scheduled_for) FROM pgsched.runs WHERE job_id = %s", [job_id]
    ).fetchone() == (1,)


def test_a_replayed_shard_is_a_new_attempt_of_that_shard(database_url: str, db: Connection) -> None:
    job_id = sharded_job(db, "replayed", 3)
    claim(database_url)
    others = start_pending(database_url)
    failed = next(a for a in others if a.shard == 1)
    finish(database_url, failed, Outcome.failed("boom"))
    replay = db.execute("SELECT pgsched.retry_run(%s)", [failed.run_id]).fetchone()
    again = db.execute("SELECT pgsched.retry_run(%s)", [failed.run_id]).fetchone()
    assert replay == again, "a second call while the replay waits adds nothing"
    assert db.execute(
        "SELECT shard, attempt, status, trigger FROM pgsched.runs WHERE id = %s", replay
    ).fetchone() == (1, 2, "pending", "manual")
    assert [row[:2] for row in shard_runs(db, job_id)] == [(0, 1), (1, 1), (1, 2), (2, 1)]
