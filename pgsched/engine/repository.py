"""The worker's database access: one method per job the worker asks of the database.

The only runtime module that runs SQL. Every query is a named block from
``sql/queries`` run as a prepared statement; driver errors become
``DatabaseUnavailable`` (the connection is replaced on next use) or ``QueryFailed`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS, redact
from pgsched.db.queries import query
from pgsched.engine.planner import DueJob, JobPlan
from pgsched.engine.rows import (
    ClaimResult,
    advance_params,
    attempt_from,
    db_text,
    due_job,
    json_rows,
    read_plans,
)
from pgsched.errors import DatabaseUnavailable, QueryFailed
from pgsched.models import Attempt, Outcome
from pgsched.text import first_line

AsyncConnection = psycopg.AsyncConnection[DictRow]
# A new or removed queue limit takes effect within this long.
QUEUE_LIMITS_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerIdentity:
    """How a worker registers itself."""

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    lease_seconds: int


@dataclass(frozen=True)
class FinishedRun:
    """The database's answer for one recorded outcome."""

    run_id: int
    retry_run_id: int | None
    retry_at: datetime | None


@dataclass(frozen=True)
class DueIn:
    """Seconds until the next job slot and the next pending attempt may be due, and
    whether jobs wait for their first ``next_run``."""

    jobs: float | None
    pending: float | None
    unscheduled: bool


class Repository:
    """One connection, reconnected on demand, and the worker's queries on it."""

    def __init__(self, url: str, application_name: str, prepare: bool = True) -> None:
        self._url = psycopg.conninfo.make_conninfo(url, application_name=application_name)
        self._prepare = prepare  # False disables even prepare=True (db.pooling decides)
        self._connection: AsyncConnection | None = None
        # One connection serves one transaction at a time; tasks take turns.
        self._lock = asyncio.Lock()
        self._limited: frozenset[str] = frozenset()
        self._queue_limits_read_at: float | None = None
        # The database clock at the last claim that started attempts: their started_at.
        self.claimed_at: datetime | None = None

    async def close(self) -> None:
        """Close the connection if it is open."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[AsyncConnection]:
        """The connection, for this task alone, with driver errors translated."""
        async with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(
                        self._url,
                        autocommit=True,
                        row_factory=dict_row,
                        connect_timeout=CONNECT_TIMEOUT_SECONDS,
                        prepare_threshold=5 if self._prepare else None,
                    )
                yield self._connection
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                # The transaction lost a race and was rolled back; the connection is fine.
                raise QueryFailed(f"query failed: {first_line(exc)}") from exc
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                await self._discard()
                raise DatabaseUnavailable(
                    f"database {redact(self._url)} unavailable: {first_line(exc)}"
                ) from exc
            except psycopg.Error as exc:
                raise QueryFailed(f"query failed: {first_line(exc)}") from exc

    @asynccontextmanager
    async def _transaction(self, pipelined: bool = False) -> AsyncIterator[AsyncConnection]:
        """A transaction; ``pipelined`` sends statements (and the COMMIT) without
        waiting for each answer, so a claim costs two round trips, not seven."""
        async with self._connected() as connection:
            if pipelined:
                async with connection.pipeline(), connection.transaction():
                    yield connection
            else:
                async with connection.transaction():
                    yield connection

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Already broken: closing is a courtesy, its failure changes nothing.
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    async def _fetch(self, name: str, params: dict[str, Any]) -> list[DictRow]:
        async with self._transaction() as connection:
            cursor = await connection.execute(query(name), params, prepare=True)
            return await cursor.fetchall() if cursor.description else []

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

    async def heartbeat(self, worker_id: str) -> bool:
        """Extend the lease; False when the cluster has declared this worker dead."""
        return bool(await self._fetch("heartbeat", {"worker_id": worker_id}))

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

    # -- claiming --------------------------------------------------------------

    async def due_in(self, queues: Sequence[str]) -> DueIn:
        """How long until something in ``queues`` may be due, by the database clock."""
        rows = await self._fetch("next_due_in", {"queues": list(queues)})
        row = rows[0]
        return DueIn(
            jobs=row["jobs_due_in"], pending=row["pending_due_in"], unscheduled=row["unscheduled"]
        )

    async def claim_due_jobs(
        self,
        worker_id: str,
        queues: Sequence[str],
        limit: int,
        plan: Callable[[DueJob, datetime], JobPlan],
    ) -> ClaimResult:
        """Lock up to ``limit`` due jobs, plan them, record their runs, advance them.

        One transaction: the runs, the new ``next_run`` values and any replaced
        attempts commit together or not at all.
        """
        limited = await self._limited_queues(queues)
        async with self._transaction(pipelined=True) as connection:
            groups = [(list(queues), limit)]
            if limited:
                groups = await self._queue_groups(connection, queues, limit, limited)
            jobs: list[DictRow] = []
            for group, group_limit in groups:
                # One budget across the groups: capped queues never add to it.
                budget = min(group_limit, limit - len(jobs))
                if budget <= 0:
                    break
                cursor = await connection.execute(
                    query("claim_due_jobs"),
                    {"worker_id": worker_id, "queues": group, "limit": budget},
                    prepare=True,
                )
                jobs.extend(await cursor.fetchall())
            plans = [(job, plan(due_job(job), job["database_now"])) for job in jobs]
            if plans:
                sent = await self._send_plans(connection, worker_id, plans)
        if not plans:
            return ClaimResult([], [], [])
        self.claimed_at = jobs[0]["database_now"]
        return await read_plans(plans, *sent)

    async def schedule_new_jobs(
        self, queues: Sequence[str], limit: int, plan: Callable[[DueJob, datetime], JobPlan]
    ) -> int:
        """Give up to ``limit`` unscheduled jobs (``next_run`` NULL) their next slot."""
        async with self._transaction(pipelined=True) as connection:
            cursor = await connection.execute(
                query("claim_unscheduled_jobs"),
                {"queues": list(queues), "limit": limit},
                prepare=True,
            )
            jobs = await cursor.fetchall()
            plans = [(job, plan(due_job(job), job["database_now"])) for job in jobs]
            if plans:
                await connection.execute(query("advance_jobs"), advance_params(plans), prepare=True)
        return len(plans)

    async def _limited_queues(self, queues: Sequence[str]) -> frozenset[str]:
        """Which of ``queues`` have a limit; re-read every ``QUEUE_LIMITS_REFRESH_SECONDS``."""
        now = time.monotonic()
        if self._queue_limits_read_at is None or now - self._queue_limits_read_at > (
            QUEUE_LIMITS_REFRESH_SECONDS
        ):
            rows = await self._fetch("queue_limits", {"queues": list(queues)})
            self._limited = frozenset(row["queue"] for row in rows)
            self._queue_limits_read_at = now
        return self._limited

    async def _queue_groups(
        self,
        connection: AsyncConnection,
        queues: Sequence[str],
        limit: int,
        limited: frozenset[str],
    ) -> list[tuple[list[str], int]]:
        """Queue groups to claim from with their limits: capped queues one by one."""
        await connection.execute(query("lock_queue_limits"), {"queues": list(queues)})
        cursor = await connection.execute(query("queue_headroom"), {"queues": list(queues)})
        headroom = {row["queue"]: max(0, row["headroom"]) for row in await cursor.fetchall()}
        groups: list[tuple[list[str], int]] = []
        uncapped = [queue for queue in queues if queue not in headroom]
        if uncapped:
            groups.append((uncapped, limit))
        groups.extend(([queue], min(limit, room)) for queue, room in headroom.items() if room > 0)
        return groups

    async def _send_plans(
        self, connection: AsyncConnection, worker_id: str, plans: list[tuple[DictRow, JobPlan]]
    ) -> tuple[AsyncCursor[DictRow] | None, AsyncCursor[DictRow]]:
        """Queue the claim's writes in the pipeline; their answers are read after COMMIT."""
        rows = [(job, run) for job, job_plan in plans for run in job_plan.runs]
        cancel = [run_id for _, job_plan in plans for run_id in job_plan.cancel_run_ids]
        started_slots = [(job["id"], p.started.scheduled_for) for job, p in plans if p.started]
        cancelled_cursor = None
        if cancel:
            cancelled_cursor = await connection.execute(
                query("cancel_replaced_runs"), {"run_ids": cancel}, prepare=True
            )
        if started_slots:
            await connection.execute(
                query("supersede_retries"),
                {
                    "job_ids": [job_id for job_id, _ in started_slots],
                    "started_slots": [slot for _, slot in started_slots],
                },
                prepare=True,
            )
        inserted_cursor = await connection.execute(
            query("insert_planned_runs"),
            {
                "worker_id": worker_id,
                "rows": json_rows(
                    {
                        "job_id": job["id"],
                        "job_name": job["name"],
                        "scheduled_for": run.scheduled_for,
                        "status": run.status.value,
                        "trigger": run.trigger.value,
                        "queue": job["queue"],
                        "error": run.error,
                        "missed_until": run.missed_until,
                        "missed_slots": run.missed_slots,
                    }
                    for job, run in rows
                ),
            },
            prepare=True,
        )
        await connection.execute(query("advance_jobs"), advance_params(plans), prepare=True)
        return cancelled_cursor, inserted_cursor

    async def claim_pending_runs(
        self, worker_id: str, queues: Sequence[str], limit: int
    ) -> list[Attempt]:
        """Start up to ``limit`` pending attempts (retries, manual runs, queued slots)."""
        async with self._transaction(pipelined=True) as connection:
            cursor = await connection.execute(
                query("start_pending_runs"),
                {"worker_id": worker_id, "queues": list(queues), "limit": limit},
                prepare=True,
            )
            started = await cursor.fetchall()
            if started:
                cursor = await connection.execute(
                    query("load_jobs"),
                    {"job_ids": sorted({row["job_id"] for row in started})},
                    prepare=True,
                )
                jobs_by_id = {job["id"]: job for job in await cursor.fetchall()}
                self.claimed_at = started[0]["database_now"]
        return [
            attempt_from(
                jobs_by_id[row["job_id"]],
                run_id=row["run_id"],
                fence=row["fence"],
                scheduled_for=row["scheduled_for"],
                attempt=row["attempt"],
                trigger=row["run_trigger"],
            )
            for row in started
        ]

    # -- finishing -------------------------------------------------------------

    async def finish_runs(
        self, finished: Sequence[tuple[Attempt, Outcome, float]]
    ) -> list[FinishedRun]:
        """Record outcomes (with duration in ms); returns the runs whose fence still held."""
        rows = await self._fetch(
            "finish_runs",
            {
                "rows": json_rows(
                    {
                        "run_id": attempt.run_id,
                        "fence": attempt.fence,
                        "status": outcome.status.value,
                        "error": db_text(outcome.error),
                        "output": db_text(outcome.output),
                        "duration_ms": duration_ms,
                        "retryable": outcome.retryable,
                    }
                    for attempt, outcome, duration_ms in finished
                )
            },
        )
        return [FinishedRun(row["id"], row["retry_run_id"], row["retry_at"]) for row in rows]

    async def save_checkpoint(self, attempt: Attempt, value: Any) -> bool:
        """Store ``value`` as the job's checkpoint while ``attempt`` still holds its fence."""
        rows = await self._fetch(
            "save_checkpoint",
            {
                "checkpoint": Jsonb(value),
                "job_id": attempt.job_id,
                "run_id": attempt.run_id,
                "fence": attempt.fence,
            },
        )
        return bool(rows)
