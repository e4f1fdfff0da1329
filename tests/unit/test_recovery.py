"""Recovery: what a worker holds is read when it asks to release the rest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pytest

from pgsched.engine import heartbeat
from pgsched.engine.events import RunEvents
from pgsched.engine.heartbeat import Recovery
from pgsched.engine.options import WorkerOptions
from pgsched.engine.state import InFlight, WorkerState, new_identity
from tests.attempts import make_attempt


class ClaimDuringRecovery:
    """A database through which a claim completes while recovery checks fences."""

    def __init__(self, state: WorkerState, task: asyncio.Task[None]) -> None:
        self.state = state
        self.task = task
        self.released_with: list[int] | None = None

    async def reap_lost_runs(self, worker_id: str) -> list[Any]:
        return []

    async def retire_orphan_runs(self) -> int:
        return 0

    async def runs_taken_away(self, held: Sequence[tuple[int, int]]) -> list[int]:
        # A slow claim (older than a lease by now) ends meanwhile: run 9 is held.
        attempt = make_attempt("python", "m:f", run_id=9)
        self.state.in_flight[9] = InFlight(attempt, self.task, from_schedule=True)
        return []

    async def release_unstarted_runs(
        self, worker_id: str, held_run_ids: Sequence[int], older_than_seconds: float
    ) -> list[Any]:
        self.released_with = list(held_run_ids)
        return []


def test_a_claim_that_ends_during_recovery_keeps_its_runs() -> None:
    async def go() -> list[int] | None:
        state = WorkerState(new_identity(WorkerOptions()))
        task = asyncio.create_task(asyncio.sleep(0))
        repository = ClaimDuringRecovery(state, task)
        recovery = Recovery(repository, 10.0, state, RunEvents(lambda: "w1"))  # type: ignore[arg-type]
        await recovery.recover()
        await task
        return repository.released_with

    assert asyncio.run(go()) == [9]


class EndsWhileChecked:
    """A database that answers the fence check after the attempt it names has ended:
    the finisher recorded it meanwhile, so it is no longer running."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state

    async def runs_taken_away(self, held: Sequence[tuple[int, int]]) -> list[int]:
        self.state.in_flight.pop(9)
        return [run_id for run_id, _ in held]


class Warnings:
    """Stands in for the heartbeat module's logger: keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def test_an_attempt_that_ends_during_the_fence_check_is_not_reported_taken_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module's own logger: structlog's capture cannot see a logger cached earlier.
    warnings = Warnings()
    monkeypatch.setattr(heartbeat, "log", warnings)

    async def go() -> list[int]:
        state = WorkerState(new_identity(WorkerOptions()))
        ended = asyncio.create_task(asyncio.sleep(0))
        running = asyncio.create_task(asyncio.sleep(10))
        state.in_flight[9] = InFlight(make_attempt("python", "m:f", run_id=9), ended, True)
        state.in_flight[10] = InFlight(make_attempt("python", "m:f", run_id=10), running, True)
        recovery = Recovery(EndsWhileChecked(state), 10.0, state, RunEvents(lambda: "w1"))  # type: ignore[arg-type]
        await recovery.check_taken_away()
        await ended
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return list(state.cancel_reasons)

    stopped = asyncio.run(go())
    # Run 10 really was taken: it is stopped and reported. Run 9 ended first.
    assert stopped == [10]
    assert [f["run_ids"] for e, f in warnings.events if e == "runs_taken_away"] == [[10]]
