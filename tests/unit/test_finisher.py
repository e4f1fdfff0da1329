"""The finisher: outcomes the database refuses never wedge the ones behind them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pgsched.engine.events import RunEvents
from pgsched.engine.finisher import Finisher
from pgsched.errors import QueryFailed
from pgsched.models import EndedAttempt, Outcome
from tests.attempts import make_attempt


class RefusingRepository:
    """A database that refuses every outcome, however plain."""

    def __init__(self) -> None:
        self.tries = 0

    async def finish_runs(self, batch: Sequence[EndedAttempt]) -> None:
        self.tries += 1
        raise QueryFailed("query failed: refused")


def test_outcomes_nobody_can_record_are_let_go() -> None:
    async def go() -> tuple[bool, int, int]:
        repository = RefusingRepository()
        finisher = Finisher(repository, RunEvents(lambda: "w1"))  # type: ignore[arg-type]
        task = asyncio.create_task(finisher.run())
        for run_id in (1, 2):
            attempt = make_attempt("python", "m:f", run_id=run_id)
            finisher.submit(EndedAttempt(attempt, Outcome.succeeded(), 1.0, None))
        recorded = await finisher.flush(5)
        task.cancel()
        return recorded, finisher.unrecorded, repository.tries

    # One batch, then each outcome alone, then each as a bare failure: five tries, and
    # the finisher is idle again (recovery records those runs lost).
    assert asyncio.run(go()) == (True, 0, 5)


class RecordingRepository:
    """A database that records every batch and when it came."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, int]] = []

    async def finish_runs(self, batch: Sequence[EndedAttempt]) -> list[object]:
        self.batches.append((time.monotonic(), len(batch)))
        return []


def test_no_outcome_is_written_while_python_processes_begin_an_instant() -> None:
    # The database's work for a batch would take the cores the processes need to
    # begin the instant's held attempts (python_held.Quiet): the outcomes wait, then
    # go in one batch.
    async def go() -> tuple[float, list[tuple[float, int]]]:
        repository = RecordingRepository()
        quiet_until = time.monotonic() + 0.1
        finisher = Finisher(
            repository,  # type: ignore[arg-type]
            RunEvents(lambda: "w1"),
            lambda: max(0.0, quiet_until - time.monotonic()),
        )
        task = asyncio.create_task(finisher.run())
        for run_id in (1, 2, 3):
            attempt = make_attempt("python", "m:f", run_id=run_id)
            finisher.submit(EndedAttempt(attempt, Outcome.succeeded(), 1.0, None))
            await asyncio.sleep(0.02)
        await finisher.flush(5)
        task.cancel()
        return quiet_until, repository.batches

    quiet_until, batches = asyncio.run(go())
    assert [count for _, count in batches] == [3]
    assert batches[0][0] >= quiet_until
