"""keep_running: one loop that rides out database errors and bugs alike."""

from __future__ import annotations

import asyncio

import pytest

from pgsched.engine.keep_running import keep_running
from pgsched.errors import DatabaseUnavailable


def run(steps: list[object], **options: object) -> list[float]:
    """Feed ``steps`` (a delay, None, or an exception to raise) and collect the waits."""
    waits: list[float] = []
    remaining = list(steps)

    async def step() -> float | None:
        outcome = remaining.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    asyncio.run(keep_running(step, "failed", "crashed", wait=wait, **options))  # type: ignore[arg-type]
    return waits


def test_the_step_sets_the_pace_until_it_says_done() -> None:
    assert run([0.5, 0.0, 2.0, None]) == [0.5, 0.0, 2.0]


def test_database_errors_and_bugs_are_retried_with_growing_capped_delays() -> None:
    waits = run(
        [DatabaseUnavailable("down"), DatabaseUnavailable("down"), RuntimeError("bug"), 0.1, None],
        max_retry_seconds=0.3,
    )
    assert len(waits) == 4 and waits[-1] == 0.1
    assert all(0 < wait <= 0.3 for wait in waits[:3])


def test_a_stop_request_ends_the_loop_before_the_next_step() -> None:
    calls: list[int] = []

    async def step() -> float:
        calls.append(1)
        return 0.0

    async def go() -> None:
        await keep_running(step, "failed", "crashed", stopped=lambda: len(calls) >= 3)

    asyncio.run(go())
    assert len(calls) == 3


def test_cancellation_is_not_swallowed() -> None:
    async def step() -> float:
        await asyncio.sleep(10)
        return 0.0

    async def go() -> None:
        task = asyncio.create_task(keep_running(step, "failed", "crashed"))
        await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())
