"""Records outcomes in batches: one statement for every attempt that ended meanwhile.

Outcomes wait in memory while the database is away and are written when it comes
back; a result whose claim was taken from this worker is logged and dropped. What
each recorded outcome means (log event, metrics, failure hooks) is ``events.py``'s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import structlog

from pgsched.engine.events import RunEvents
from pgsched.engine.keep_running import keep_running
from pgsched.engine.repository import Repository
from pgsched.errors import QueryFailed
from pgsched.log_lines import run_fields
from pgsched.models import EndedAttempt, Outcome

# Larger batches amortise the round trip; this bounds one statement's size.
MAX_BATCH = 1000
# Under load, one statement at most this often: outcomes that end meanwhile join the
# next batch instead of each costing a statement of their own (at 5,000 runs/s a
# batch of ~50, not of ~40). An outcome after a quiet spell is written at once.
MIN_INTERVAL_SECONDS = 0.01

log = structlog.get_logger(__name__)


class Finisher:
    """Collects ended attempts and writes them in batches."""

    def __init__(
        self, repository: Repository, events: RunEvents, quiet: Callable[[], float] = lambda: 0.0
    ) -> None:
        """``quiet()``: how long to hold back a write before asking again (0: not now)."""
        self._repository = repository
        self._events = events
        self._quiet = quiet
        self._waiting: list[EndedAttempt] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_record = -MIN_INTERVAL_SECONDS

    def submit(self, ended: EndedAttempt) -> None:
        """Queue one outcome for recording."""
        self._waiting.append(ended)
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        """Write queued outcomes until cancelled, riding out database outages."""
        await keep_running(self._record_waiting, "outcomes_not_recorded_yet", "finisher_crashed")

    async def _record_waiting(self) -> float:
        """Wait for outcomes, then write all there are; an outage leaves them queued."""
        if not self._waiting:
            await self._ready.wait()
        if (gather := self._last_record + MIN_INTERVAL_SECONDS - time.monotonic()) > 0:
            await asyncio.sleep(gather)
        # Not while python processes begin an instant's held attempts: the database's
        # work for the batch would take the cores they need (python_held.Quiet).
        while (quiet := self._quiet()) > 0:
            await asyncio.sleep(quiet)
        self._ready.clear()
        self._last_record = time.monotonic()
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            try:
                await self._record(batch)
            except QueryFailed as exc:
                # One outcome the database refuses must not hold up the others.
                log.error("outcome_batch_refused", count=len(batch), error=str(exc))
                await self._record_one_by_one(batch)
            del self._waiting[: len(batch)]
        self._idle.set()
        return 0.0

    async def _record_one_by_one(self, batch: list[EndedAttempt]) -> None:
        for ended in batch:
            try:
                await self._record([ended])
            except QueryFailed as exc:
                # Keep the record true, if poorer: the run failed and we say why.
                bare = Outcome.failed(f"pgsched could not record this outcome: {exc}")
                try:
                    await self._record([replace(ended, outcome=bare)])
                except QueryFailed as bare_exc:
                    # Nothing this worker can write is accepted; the run is no longer
                    # held here, so recovery records it lost within a lease.
                    log.error(
                        "outcome_unrecordable",
                        **run_fields(ended.attempt, self._events.worker_id()),
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

    async def _record(self, batch: list[EndedAttempt]) -> None:
        started = time.monotonic()
        recorded = {row.run_id: row for row in await self._repository.finish_runs(batch)}
        self._events.recorded(batch, recorded)
        log.debug(
            "outcomes_recorded", count=len(batch), ms=round(1000 * (time.monotonic() - started))
        )
