"""Shell, http and sql slots a claim ahead took beyond --concurrency go back at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pgsched.engine import release
from pgsched.engine.metrics import Metrics
from pgsched.engine.options import WorkerOptions
from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.release import beyond_concurrency, hand_back_surplus
from pgsched.engine.state import InFlight, WorkerState, new_identity
from pgsched.errors import DatabaseError, DatabaseUnavailable, QueryFailed
from pgsched.models import Attempt
from tests.attempts import make_attempt

INSTANT = datetime(2026, 12, 2, tzinfo=UTC)


def slot(run_id: int, kind: str = "shell", seconds: float = 0.0, **fields: Any) -> Attempt:
    at = INSTANT + timedelta(seconds=seconds)
    fields.setdefault("job_id", run_id)  # a job of its own unless told
    return make_attempt(kind, "true", run_id=run_id, fence=run_id, scheduled_for=at, **fields)


def test_only_side_by_side_kinds_beyond_concurrency_are_surplus() -> None:
    claimed = [slot(n) for n in range(1, 6)] + [slot(n, "python") for n in range(6, 20)]
    # Python slots never count: their processes begin them, whatever --concurrency says.
    assert beyond_concurrency(claimed, [], concurrency=5) == []
    assert [a.run_id for a in beyond_concurrency(claimed, [], concurrency=3)] == [4, 5]


def test_attempts_the_worker_holds_already_take_their_room() -> None:
    holding = [slot(100, "http"), slot(101, "sql"), slot(102, "python"), slot(103, "python")]
    claimed = [slot(1), slot(2, "sql"), slot(3, "http")]
    assert [a.run_id for a in beyond_concurrency(claimed, holding, concurrency=3)] == [2, 3]
    # Beyond it already (waiting for a slot): every new one is surplus.
    assert len(beyond_concurrency(claimed, holding * 3, concurrency=3)) == 3


def test_the_latest_slots_are_the_ones_handed_back() -> None:
    claimed = [slot(1, seconds=0.3), slot(2, seconds=0.1), slot(3, seconds=0.2)]
    assert [a.run_id for a in beyond_concurrency(claimed, [], concurrency=1)] == [3, 1]


def test_a_jobs_catch_ups_and_shards_stay_together() -> None:
    # Job 1's two slots (a catch-up), job 2's slot beside its attempt held here: handed
    # back, each would meet the overlap rules against its own job's attempt.
    catch_up = [slot(1, seconds=-1, job_id=1), slot(2, job_id=1)]
    beside = slot(3, job_id=2)
    held = slot(4, seconds=-2, job_id=2)
    shards = [slot(5, job_id=3, shard=0, shards=2), slot(6, job_id=3, shard=1, shards=2)]
    claimed = [*catch_up, beside, *shards]
    # The shards of one slot may go (the statement hands a shard back as pending).
    assert [a.run_id for a in beyond_concurrency(claimed, [held], concurrency=1)] == [5, 6]
    assert [a.run_id for a in beyond_concurrency(claimed, [held], concurrency=5)] == [6]


def test_a_refused_attempt_takes_no_slot() -> None:
    refused = slot(9, refusal="the job row could not be read")
    assert beyond_concurrency([slot(1), refused], [], concurrency=1) == []


class Releasing:
    """A repository that releases what it is given, but ``taken`` (not this worker's);
    the first ``failures`` calls raise ``error``."""

    def __init__(
        self, taken: Sequence[int] = (), failures: int = 0, error: type[DatabaseError] = QueryFailed
    ) -> None:
        self.taken, self.failures, self.error = set(taken), failures, error
        self.asked: list[tuple[int, int]] | None = None
        self.calls = 0

    async def release_held_runs(self, held: Sequence[tuple[int, int]]) -> list[int]:
        self.asked = list(held)
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("connection refused")
        return [run_id for run_id, _ in held if run_id not in self.taken]


def hand_back(
    claimed: Sequence[Attempt],
    repository: Releasing,
    holding: Sequence[Attempt] = (),
    metrics: Metrics | None = None,
) -> tuple[list[int], ClaimPacer]:
    async def go() -> list[int]:
        state = WorkerState(new_identity(WorkerOptions()))
        for attempt in holding:
            task = asyncio.create_task(asyncio.sleep(0))
            state.in_flight[attempt.run_id] = InFlight(attempt, task, True)
        kept = await hand_back_surplus(claimed, state, p, repository, metrics)  # type: ignore[arg-type]
        await asyncio.gather(*{held.task for held in state.in_flight.values()})
        # Unanswered releases are held until answered, and then no longer.
        assert set(state.in_flight) == {attempt.run_id for attempt in holding}
        assert not state.cancel_reasons
        return [attempt.run_id for attempt in kept]

    p = ClaimPacer(2, 1.0)
    return asyncio.run(go()), p


def test_surplus_goes_back_in_one_statement_and_does_not_start_here() -> None:
    repository = Releasing()
    claimed = [slot(1), slot(2, "python"), slot(3), slot(4), slot(5)]
    kept, p = hand_back(claimed, repository)
    assert kept == [1, 2, 3]
    assert repository.asked == [(4, 4), (5, 5)]
    # Claims ahead stay within --concurrency for a while: not to take them back at once.
    assert p.ahead_limit(100, due=5000, room=1, now=time.monotonic()) == 1


def test_no_surplus_no_statement() -> None:
    repository = Releasing()
    kept, p = hand_back([slot(1), slot(2, "python")], repository, holding=[slot(7, "python")])
    assert kept == [1, 2] and repository.asked is None
    assert p.within_concurrency_until == 0.0


def test_surplus_the_database_refused_to_take_back_starts_here_late() -> None:
    repository = Releasing(failures=1)
    kept, p = hand_back([slot(1), slot(2), slot(3)], repository, holding=[slot(8)])
    assert kept == [1, 2, 3] and repository.asked == [(2, 2), (3, 3)]
    assert p.ahead_limit(100, due=5000, room=1, now=time.monotonic()) == 1


def test_surplus_whose_release_went_unanswered_never_starts_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The release may have committed before the connection broke: another worker may
    # run those slots, so this one holds them, unstarted, until the database answers.
    monkeypatch.setattr(release, "RELEASE_RETRY_SECONDS", 0.01)
    repository = Releasing(failures=2, error=DatabaseUnavailable)
    kept, _ = hand_back([slot(1), slot(2), slot(3)], repository, holding=[slot(8)])
    assert kept == [1]
    assert repository.calls == 3 and repository.asked == [(2, 2), (3, 3)]


RELEASED = "pgsched_runs_released_total"


def test_surplus_handed_back_is_counted_once_released() -> None:
    metrics = Metrics()
    # Of the two beyond --concurrency, one was no longer this worker's: not released.
    hand_back([slot(1), slot(2), slot(3)], Releasing(taken=[3]), [slot(8)], metrics)
    assert metrics.registry.get_sample_value(RELEASED, {"reason": "concurrency"}) == 1
    refused = Metrics()
    hand_back([slot(1), slot(2), slot(3)], Releasing(failures=1), [slot(8)], refused)
    assert refused.registry.get_sample_value(RELEASED, {"reason": "concurrency"}) is None


def test_surplus_released_once_the_database_answers_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(release, "RELEASE_RETRY_SECONDS", 0.01)
    metrics = Metrics()
    repository = Releasing(failures=2, error=DatabaseUnavailable)
    hand_back([slot(1), slot(2), slot(3)], repository, [slot(8)], metrics)
    assert metrics.registry.get_sample_value(RELEASED, {"reason": "concurrency"}) == 2


def test_surplus_no_longer_this_workers_does_not_start_either() -> None:
    # Its fence moved (recovery took it): the statement leaves it, and so does this worker.
    repository = Releasing(taken=[3])
    kept, _ = hand_back([slot(1), slot(2), slot(3)], repository)
    assert kept == [1, 2]
