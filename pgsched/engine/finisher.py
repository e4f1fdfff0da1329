"""Records outcomes in batches: one statement for every attempt that ended meanwhile.

Outcomes wait in memory while the database is away and are written when it comes
back; a result whose claim was taken from this worker is logged and dropped. What
each recorded outcome means (log event, metrics, failure hooks) is ``events.py``'s.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from pgsched.engine.backoff import Backoff
from pgsched.engine.events import RunEvents
from pgsched.engine.repository import Repository
from pgsched.errors import DatabaseUnavailable, QueryFailed
from pgsched.logging import run_fields
from pgsched.models import Attempt, Outcome

# Larger batches amortise the round trip; this bounds one statement's size.
MAX_BATCH = 1000

log = structlog.get_logger(__name__)


class Finisher:
    """Collects ``(attempt, outcome, duration_ms)`` and writes them in batches."""

    def __init__(self, repository: Repository, events: RunEvents) -> None:
        self._repository = repository
        self._events = events
        self._waiting: list[tuple[Attempt, Outcome, float]] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, attempt: Attempt, outcome: Outcome, duration_ms: float) -> None:
        """Queue one outcome for recording."""
        self._waiting.append((attempt, outcome, duration_ms))
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        """Write queued outcomes until cancelled."""
        backoff = Backoff()
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                try:
                    await self._record(batch)
                except DatabaseUnavailable as exc:
                    delay = backoff.next_delay()
                    log.warning(
                        "outcomes_not_recorded_yet",
                        waiting=len(self._waiting),
                        error=str(exc),
                        retry_in_s=round(delay, 2),
                    )
                    await asyncio.sleep(delay)
                    continue
                except QueryFailed as exc:
                    # One outcome the database refuses must not hold up the others.
                    log.error("outcome_batch_refused", count=len(batch), error=str(exc))
                    await self._record_one_by_one(batch)
                backoff.reset()
                del self._waiting[: len(batch)]
            self._idle.set()

    async def _record_one_by_one(self, batch: list[tuple[Attempt, Outcome, float]]) -> None:
        for attempt, outcome, duration_ms in batch:
            try:
                await self._record([(attempt, outcome, duration_ms)])
            except QueryFailed as exc:
                # Keep the record true, if poorer: the run failed and we say why.
                bare = Outcome.failed(f"pgsched could not record this outcome: {exc}")
                try:
                    await self._record([(attempt, bare, duration_ms)])
                except QueryFailed as bare_exc:
                    # Nothing this worker can write is accepted; the run is no longer
                    # held here, so recovery records it lost within a lease.
                    log.error(
                        "outcome_unrecordable",
                        **run_fields(attempt, self._events.worker_id()),
                        error=str(bare_exc),
                    )

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued outcome is recorded; False if ``timeout`` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close the finisher's connection."""
        await self._repository.close()

    @property
    def unrecorded(self) -> int:
        """How many outcomes are still waiting to be written."""
        return len(self._waiting)

    async def _record(self, batch: list[tuple[Attempt, Outcome, float]]) -> None:
        started = time.monotonic()
        recorded = {row.run_id: row for row in await self._repository.finish_runs(batch)}
        self._events.recorded(batch, recorded)
        log.debug(
            "outcomes_recorded", count=len(batch), ms=round(1000 * (time.monotonic() - started))
        )
