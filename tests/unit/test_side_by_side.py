"""Shell, http and sql attempts run at most --concurrency at once, held slots included:
those beyond it wait for one to end, and begin (their recorded start) only then."""

from __future__ import annotations

import asyncio
import time

from pgsched.executors.kinds import SideBySide
from pgsched.models import Outcome
from tests.attempts import Sleeper, make_attempt


def test_attempts_beyond_concurrency_wait_and_begin_when_one_ends() -> None:
    async def go() -> tuple[float, int, list[Outcome]]:
        slots = asyncio.Semaphore(2)
        shell, http = Sleeper(0.2), Sleeper(0.2)
        gated = [SideBySide(shell, slots), SideBySide(http, slots)]
        began = time.monotonic()
        attempts = [make_attempt("shell", "true", run_id=n) for n in range(3)]
        work = [gated[n % 2].execute(a) for n, a in enumerate(attempts)]
        outcomes = list(await asyncio.gather(*work))
        return began, max(shell.most, http.most) + min(shell.most, http.most), outcomes

    began, most, outcomes = asyncio.run(go())
    assert most <= 2
    starts = sorted(outcome.started_monotonic or 0.0 for outcome in outcomes)
    assert starts[1] - began < 0.1  # two at once, sharing the slots across kinds
    assert starts[2] - began >= 0.2  # the third when one ended


def test_a_wait_for_a_slot_does_not_use_up_the_timeout() -> None:
    async def go() -> list[Outcome]:
        slots = asyncio.Semaphore(1)
        gated = SideBySide(Sleeper(0.3), slots)
        # The first holds the one slot 0.3 s; the second, waiting for it longer than
        # its whole 0.2 s timeout, still runs its 0.1 s once it has the slot.
        first = make_attempt("shell", "true", run_id=1, timeout_seconds=5)
        quick = SideBySide(Sleeper(0.1), slots)
        second = make_attempt("shell", "true", run_id=2, timeout_seconds=0.2)
        return list(await asyncio.gather(gated.execute(first), quick.execute(second)))

    outcomes = asyncio.run(go())
    assert [outcome.status.value for outcome in outcomes] == ["succeeded", "succeeded"]


def test_an_attempt_past_its_timeout_is_stopped_and_timed_from_its_slot() -> None:
    async def go() -> tuple[float, Outcome]:
        slots = asyncio.Semaphore(1)
        gated = SideBySide(Sleeper(5.0), slots)
        began = time.monotonic()
        attempt = make_attempt("shell", "sleep 5", timeout_seconds=0.2)
        return began, await gated.execute(attempt)

    began, outcome = asyncio.run(go())
    assert outcome.status.value == "timed_out"
    assert outcome.started_monotonic is not None
    assert outcome.started_monotonic - began < 0.1
    assert "timed out after 0.2 s" in (outcome.error or "")
