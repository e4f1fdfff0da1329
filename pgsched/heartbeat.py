"""The worker's side loop: heartbeat, recovery of dead workers' runs, and fencing checks.

Every ``lease / 3`` seconds the worker extends its lease, asks the database to
reap runs of workers silent past theirs (any worker may; each lost run is handled
once), retires pending runs of deleted or disabled jobs, and checks that the
attempts it runs are still its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from pgsched.backoff import Backoff
from pgsched.errors import DatabaseUnavailable
from pgsched.repository import Repository

log = structlog.get_logger(__name__)


class Heartbeat:
    """Runs the side loop for one worker."""

    def __init__(
        self,
        repository: Repository,
        lease_seconds: float,
        worker_id: Callable[[], str],
        held_runs: Callable[[], Sequence[tuple[int, int]]],
        on_presumed_dead: Callable[[], Awaitable[None]],
        on_runs_taken: Callable[[list[int]], None],
    ) -> None:
        self._repository = repository
        self._interval = lease_seconds / 3
        self._worker_id = worker_id
        self._held_runs = held_runs
        self._on_presumed_dead = on_presumed_dead
        self._on_runs_taken = on_runs_taken

    async def run(self) -> None:
        """Beat until cancelled."""
        backoff = Backoff()
        while True:
            try:
                await self.beat()
            except DatabaseUnavailable as exc:
                delay = min(backoff.next_delay(), self._interval)
                log.warning("heartbeat_failed", error=str(exc), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            await asyncio.sleep(self._interval)

    async def beat(self) -> None:
        """One round: lease, reaping, orphan retirement, fencing check."""
        if not await self._repository.heartbeat(self._worker_id()):
            log.error("worker_presumed_dead", worker_id=self._worker_id())
            await self._on_presumed_dead()
        for row in await self._repository.reap_lost_runs():
            log.warning(
                "run_lost",
                run_id=row["run_id"],
                job_name=row["job_name"],
                lost_worker_id=row["worker_id"],
                retry_run_id=row["retry_run_id"],
                worker_id=self._worker_id(),
            )
        retired = await self._repository.retire_orphan_runs()
        if retired:
            log.info("orphan_runs_retired", count=retired)
        taken = await self._repository.runs_taken_away(self._held_runs())
        if taken:
            log.warning("runs_taken_away", run_ids=taken, worker_id=self._worker_id())
            self._on_runs_taken(taken)
