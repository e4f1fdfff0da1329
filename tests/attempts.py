"""Attempts for executor tests: an ``Attempt`` as a claim would hand it over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pgsched.models import Attempt, Outcome, Trigger


def make_attempt(
    kind: str, target: str, args: dict[str, Any] | None = None, **fields: Any
) -> Attempt:
    """An attempt of a ``kind`` job at ``target``; ``fields`` override the defaults."""
    values: dict[str, Any] = {
        "run_id": 1,
        "fence": 1,
        "job_id": 1,
        "job_name": f"{kind}-job",
        "kind": kind,
        "target": target,
        "args": args or {},
        "scheduled_for": datetime.now(UTC),
        "attempt": 1,
        "max_attempts": 3,
        "timeout_seconds": 60,
        "trigger": Trigger.SCHEDULE,
        **fields,
    }
    return Attempt(**values)


class Sleeper:
    """An executor whose attempts take ``seconds``; counts how many run at once (``most``
    at the most) and how many ran."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = self.most = self.ran = 0

    async def start(self) -> None:
        pass

    async def execute(self, attempt: Attempt) -> Outcome:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1
        self.ran += 1
        return Outcome.succeeded()

    async def close(self) -> None:
        pass
