"""Shell, http and sql attempts run at most --concurrency at once, held slots included:
those beyond it wait for one to end, and begin (their recorded start) only then."""

from __future__ import annotations

import asyncio
import time

from pgsched.executors.kinds import SideBySide
from pgsched.models import Attempt, Outcome
from tests.attempts import make_attempt


class Sleeper:
    """An executor whose attempts take ``seconds`` and count how many run at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = self.most = 0

    async def start(self) -> None:
        pass

    async def execute(self, attempt: Attempt) -> Outcome:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1
        return Outcome.succeeded()

    async def close(self) -> None:
        pass


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
