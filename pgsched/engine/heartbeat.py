"""The worker's side loops: its heartbeat, and recovery of other workers' runs.

The heartbeat has a connection of its own and does nothing else, so slow recovery
work or a busy database cannot delay it past the lease. Recovery, on the side
connection, asks the database to reap runs of workers silent past their lease (any
worker may; each lost run is handled once), retires pending runs of deleted or
disabled jobs, and checks that the attempts this worker runs are still its own: each
round, at once for the runs a cancel hint names, and, for a worker that hears no
notifications, every poll interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from pgsched.engine.events import RunEvents
from pgsched.engine.keep_running import Step, keep_running
from pgsched.engine.options import WorkerOptions
from pgsched.engine.repository import Repository
from pgsched.engine.state import WorkerState, new_identity
from pgsched.errors import DatabaseError

log = structlog.get_logger(__name__)


class Heartbeat:
    """Keeps one worker's lease; when the cluster has declared the worker dead, drops
    its attempts and rejoins under a new id."""

    def __init__(self, repository: Repository, options: WorkerOptions, state: WorkerState) -> None:
        self._repository = repository
        self._options = options
        self._lease_seconds = options.lease_seconds
        self._interval = options.lease_seconds / 3
        self._state = state
        # Registration, which follows, writes the first heartbeat.
        self._beat_at = time.monotonic()

    async def run(self) -> None:
        """Beat until cancelled."""
        await keep_running(
            _steady(self._interval, self.beat),
            "heartbeat_failed",
            "heartbeat_crashed",
            max_retry_seconds=self._interval,
        )

    async def beat(self) -> None:
        """Extend the lease; rejoin under a new id if it was refused."""
        state = self._state
        peers = await self._repository.heartbeat(state.worker_id)
        if peers is not None:
            self._beat_at = time.monotonic()
            state.peers = peers
            return
        log.error("worker_presumed_dead", worker_id=state.worker_id)
        state.take_away(list(state.in_flight))
        state.identity = new_identity(self._options)
        await self._repository.register_worker(state.identity)
        log.warning("worker_rejoined", worker_id=state.worker_id)

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
        state: WorkerState,
        events: RunEvents,
    ) -> None:
        self._repository = repository
        self._interval = interval_seconds
        self._state = state
        self._events = events
        # Runs a cancel hint named, waiting to be checked, and the task checking them.
        self._hinted: set[int] = set()
        self._checking: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Recover until cancelled."""
        try:
            await keep_running(
                _steady(self._interval, self.recover),
                "recovery_failed",
                "recovery_crashed",
                max_retry_seconds=self._interval,
            )
        finally:
            if self._checking is not None:
                self._checking.cancel()

    def check_hinted(self, run_ids: set[int]) -> None:
        """A cancel hint (``pgsched_cancel``) named ``run_ids``: check now, not next round,
        whether those this worker holds are still its own. A NOTIFY alone stops nothing."""
        self._hinted.update(run_ids)
        if self._checking is None or self._checking.done():
            self._checking = asyncio.create_task(self._check_hinted())

    async def _check_hinted(self) -> None:
        state = self._state
        while self._hinted:
            held = [pair for pair in state.held_runs() if pair[0] in self._hinted]
            self._hinted.clear()
            if not held:
                return
            try:
                taken = await self._repository.runs_taken_away(held)
            except DatabaseError as exc:
                log.warning("cancel_check_failed", error=str(exc))
                return  # the next round checks every held run anyway
            if taken := state.take_away(taken):
                log.info("runs_cancelled", run_ids=taken, worker_id=state.worker_id)

    async def watch_taken_away(self, interval: float) -> None:
        """Check every ``interval`` seconds that the attempts held are still ours: what
        tells a worker without notifications that one was replaced or taken away."""
        await keep_running(
            _steady(interval, self.check_taken_away),
            "taken_away_check_failed",
            "taken_away_check_crashed",
            max_retry_seconds=interval,
        )

    async def check_taken_away(self) -> None:
        """Stop the attempts held here that the database says are no longer ours."""
        state = self._state
        taken = await self._repository.runs_taken_away(state.held_runs())
        # An attempt that ended (and was recorded) while this ran is not reported.
        if taken := state.take_away(taken):
            log.warning("runs_taken_away", run_ids=taken, worker_id=state.worker_id)

    async def recover(self) -> None:
        """One round of reaping, orphan retirement and the fencing check."""
        state = self._state
        for row in await self._repository.reap_lost_runs(state.worker_id):
            self._events.lost(
                "run_lost",
                row["run_id"],
                row,
                f"worker {row['worker_id']} stopped heartbeating while this attempt ran",
            )
        if self._events.metrics is not None:
            self._events.metrics.circuits_open(
                await self._repository.breaker_states(state.identity.queues)
            )
        retired = await self._repository.retire_orphan_runs()
        if retired:
            log.info("orphan_runs_retired", count=retired)
        await self.check_taken_away()
        if state.claiming:
            return  # its runs are committed but maybe not yet held: look next round
        # A run recorded as claimed here, older than a lease, that this worker does
        # not hold was claimed by a transaction whose answer was lost: it never ran.
        # What it holds is read now, with no wait since the check: a claim that
        # ended meanwhile (a slow one can be older than a lease) holds its runs.
        holding = [run_id for run_id, _ in state.held_runs()]
        released = await self._repository.release_unstarted_runs(
            state.worker_id, holding, self._interval * 3
        )
        for row in released:
            self._events.lost("run_never_started", row["id"], row, row["error"])


def _steady(interval: float, step: Callable[[], Awaitable[None]]) -> Step:
    """``step`` every ``interval`` seconds: the time it took counts against the interval."""

    async def timed() -> float:
        started = asyncio.get_running_loop().time()
        await step()
        return max(0.0, interval - (asyncio.get_running_loop().time() - started))

    return timed
