"""The worker's side loops: its heartbeat, and recovery of other workers' runs.

The heartbeat has a connection of its own and does nothing else, so slow recovery
work or a busy database cannot delay it past the lease. Recovery, on the side
connection, asks the database to reap runs of workers silent past their lease (any
worker may; each lost run is handled once), retires pending runs of deleted or
disabled jobs, and checks that the attempts this worker runs are still its own (a
worker without notifications checks that last part every poll interval too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from pgsched.engine.backoff import Backoff
from pgsched.engine.events import RunEvents
from pgsched.engine.repository import Repository
from pgsched.errors import DatabaseError

log = structlog.get_logger(__name__)


async def _every(interval: float, step: Callable[[], Awaitable[object]], failed_event: str) -> None:
    """Run ``step`` every ``interval`` seconds until cancelled, riding out database outages."""
    backoff = Backoff()
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await step()
        except DatabaseError as exc:
            delay = min(backoff.next_delay(), interval)
            log.warning(failed_event, error=str(exc), retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
            continue
        backoff.reset()
        # A steady cadence: the time the step took counts against the interval.
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))


class Heartbeat:
    """Keeps one worker's lease, and reports when the cluster has declared it dead."""

    def __init__(
        self,
        repository: Repository,
        lease_seconds: float,
        worker_id: Callable[[], str],
        on_presumed_dead: Callable[[], Awaitable[None]],
    ) -> None:
        self._repository = repository
        self._lease_seconds = lease_seconds
        self._interval = lease_seconds / 3
        self._worker_id = worker_id
        self._on_presumed_dead = on_presumed_dead
        # Registration, which follows, writes the first heartbeat.
        self._beat_at = time.monotonic()

    async def run(self) -> None:
        """Beat until cancelled."""
        await _every(self._interval, self.beat, "heartbeat_failed")

    async def beat(self) -> None:
        """Extend the lease; hand over to ``on_presumed_dead`` if it was refused."""
        if await self._repository.heartbeat(self._worker_id()):
            self._beat_at = time.monotonic()
            return
        log.error("worker_presumed_dead", worker_id=self._worker_id())
        await self._on_presumed_dead()

    def age(self) -> float:
        """Seconds since the last heartbeat the database accepted."""
        return time.monotonic() - self._beat_at

    def healthy(self) -> bool:
        """Whether the last accepted heartbeat is younger than the lease."""
        return self.age() < self._lease_seconds


class Recovery:
    """Reaps dead workers' runs, retires orphans, and finds attempts taken from us."""

    def __init__(
        self,
        repository: Repository,
        interval_seconds: float,
        worker_id: Callable[[], str],
        held_runs: Callable[[], Sequence[tuple[int, int]]],
        on_runs_taken: Callable[[list[int]], None],
        claim_in_progress: Callable[[], bool],
        events: RunEvents,
    ) -> None:
        self._repository = repository
        self._events = events
        self._claim_in_progress = claim_in_progress
        self._interval = interval_seconds
        self._worker_id = worker_id
        self._held_runs = held_runs
        self._on_runs_taken = on_runs_taken

    async def run(self) -> None:
        """Recover until cancelled."""
        await _every(self._interval, self.recover, "recovery_failed")

    async def watch_taken_away(self, interval: float) -> None:
        """Check every ``interval`` seconds that the attempts held are still ours: what
        tells a worker without notifications that one was replaced or taken away."""
        await _every(interval, self.check_taken_away, "taken_away_check_failed")

    async def check_taken_away(self) -> list[tuple[int, int]]:
        """Stop the attempts taken from this worker; returns the ``(run_id, fence)``
        pairs it held when it looked."""
        held = self._held_runs()
        taken = await self._repository.runs_taken_away(held)
        if taken:
            log.warning("runs_taken_away", run_ids=taken, worker_id=self._worker_id())
            self._on_runs_taken(taken)
        return list(held)

    async def recover(self) -> None:
        """One round of reaping, orphan retirement and the fencing check."""
        for row in await self._repository.reap_lost_runs(self._worker_id()):
            self._events.lost(
                "run_lost",
                row["run_id"],
                row,
                f"worker {row['worker_id']} stopped heartbeating while this attempt ran",
            )
        retired = await self._repository.retire_orphan_runs()
        if retired:
            log.info("orphan_runs_retired", count=retired)
        held = await self.check_taken_away()
        if self._claim_in_progress():
            return  # its runs are committed but maybe not yet held: look next round
        # A run recorded as started here, older than a lease, that this worker does
        # not hold was claimed by a transaction whose answer was lost: it never ran.
        released = await self._repository.release_unstarted_runs(
            self._worker_id(), [run_id for run_id, _ in held], self._interval * 3
        )
        for row in released:
            self._events.lost("run_never_started", row["id"], row, row["error"])
