"""The worker's database access: one method per job the worker asks of the database.

The only runtime module that runs SQL, with ``claims`` (the claim side, which it
extends) and ``session`` (the connection and how statements are sent). Every
query is a named block from ``sql/queries``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from pgsched.engine.claims import Claims, DueIn
from pgsched.engine.rows import ClaimResult, finish_params, finish_query
from pgsched.models import Attempt, ClaimClock, EndedAttempt

__all__ = ["ClaimResult", "DueIn", "FinishedRun", "Repository", "WorkerIdentity"]


@dataclass(frozen=True)
class WorkerIdentity:
    """How a worker registers itself."""

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    lease_seconds: int


class FinishedRun(NamedTuple):
    """The database's answer for one recorded outcome, a row of ``finish_runs`` as is
    (a tuple: one per run recorded, built for ~0.3 us where a frozen dataclass took
    ~1.3)."""

    run_id: int
    retry_run_id: int | None
    retry_at: datetime | None
    # What this outcome did to the job's circuit breaker: "open", "closed" or None.
    breaker_transition: str | None = None
    breaker_failed_slots: int | None = None
    breaker_open_until: datetime | None = None
    breaker_queue: str | None = None


class Repository(Claims):
    """One connection, reconnected on demand, and the worker's queries on it."""

    # -- workers ---------------------------------------------------------------

    async def register_worker(self, identity: WorkerIdentity) -> None:
        """Insert this worker's row; its heartbeat keeps it alive from then on."""
        await self._fetch(
            "register_worker",
            {
                "worker_id": identity.worker_id,
                "host": identity.host,
                "pid": identity.pid,
                "queues": list(identity.queues),
                "concurrency": identity.concurrency,
                "lease_seconds": identity.lease_seconds,
            },
        )

    async def heartbeat(self, worker_id: str) -> bool | None:
        """Extend the lease; None when the cluster has declared this worker dead, else
        whether other live workers serve one of its queues."""
        rows = await self._fetch("heartbeat", {"worker_id": worker_id})
        return bool(rows[0]["peers"]) if rows else None

    async def stop_worker(self, worker_id: str) -> None:
        """Mark this worker stopped (a clean exit)."""
        await self._fetch("stop_worker", {"worker_id": worker_id})

    async def reap_lost_runs(self, worker_id: str) -> list[DictRow]:
        """Recover runs of dead workers (never ``worker_id``'s); one row per run marked lost."""
        return await self._fetch("reap_lost_runs", {"worker_id": worker_id})

    async def release_unstarted_runs(
        self, worker_id: str, held_run_ids: Sequence[int], older_than_seconds: float
    ) -> list[DictRow]:
        """Record as lost (and retry) runs claimed for this worker that it never started."""
        return await self._fetch(
            "release_unstarted_runs",
            {
                "worker_id": worker_id,
                "held_run_ids": list(held_run_ids),
                "older_than_seconds": older_than_seconds,
            },
        )

    async def breaker_states(self, queues: Sequence[str]) -> list[tuple[str, str, str]]:
        """Circuit breakers not closed in ``queues``: (job name, queue, state)."""
        rows = await self._fetch("breaker_states", {"queues": list(queues)})
        return [(row["job_name"], row["queue"], row["state"]) for row in rows]

    async def retire_orphan_runs(self) -> int:
        """Record pending runs of deleted or disabled jobs as skipped; returns how many."""
        rows = await self._fetch("retire_orphan_runs", {})
        return int(rows[0]["retire_orphan_runs"])

    async def runs_taken_away(self, held: Sequence[tuple[int, int]]) -> list[int]:
        """Of ``(run_id, fence)`` pairs, the runs no longer running under that fence."""
        if not held:
            return []
        rows = await self._fetch(
            "runs_taken_away",
            {"run_ids": [run_id for run_id, _ in held], "fences": [fence for _, fence in held]},
        )
        return [row["run_id"] for row in rows]

    async def database_clock(self) -> ClaimClock:
        """The database clock, read between two instants of the worker's as close
        together as one short statement allows."""
        async with self._connected() as connection:
            sent = time.monotonic()
            cursor = await self.run(connection, "database_clock", {})
            row = await cursor.fetchone()
            received = time.monotonic()
        assert row is not None
        return ClaimClock(row["database_now"], sent, received)

    # -- finishing -------------------------------------------------------------

    async def finish_runs(self, ended: Sequence[EndedAttempt]) -> list[FinishedRun]:
        """Record how attempts ended; returns the runs whose fence still held."""
        rows = await self._fetch_tuples(finish_query(ended), finish_params(ended))
        return list(map(FinishedRun._make, rows))

    async def save_checkpoint(self, attempt: Attempt, value: Any) -> bool:
        """Store ``value`` as the checkpoint of the job's shard that ``attempt`` runs,
        while ``attempt`` still holds its fence."""
        params = {
            "checkpoint": Jsonb(value),
            "job_id": attempt.job_id,
            "run_id": attempt.run_id,
            "fence": attempt.fence,
        }
        if attempt.shard:
            rows = await self._fetch("save_shard_checkpoint", {**params, "shard": attempt.shard})
        else:
            rows = await self._fetch("save_checkpoint", params)
        return bool(rows)
