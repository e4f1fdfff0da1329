"""The worker's database access: one method per job the worker asks of the database.

The only runtime module that runs SQL. Every query is a named block from
``sql/queries`` run as a prepared statement; driver errors become
``DatabaseUnavailable`` (the connection is replaced on next use) or ``QueryFailed`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from pgsched.database import CONNECT_TIMEOUT_SECONDS, redact
from pgsched.errors import DatabaseUnavailable, QueryFailed
from pgsched.models import Attempt, Outcome, RunStatus, Trigger
from pgsched.planner import DueJob, JobPlan
from pgsched.queries import query

AsyncConnection = psycopg.AsyncConnection[DictRow]


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
class ClaimResult:
    """What one claim transaction started, recorded and cancelled."""

    attempts: list[Attempt]
    recorded: int
    cancelled_run_ids: list[int]
    job_errors: list[tuple[str, str]]


@dataclass(frozen=True)
class FinishedRun:
    """The database's answer for one recorded outcome."""

    run_id: int
    retry_run_id: int | None
    retry_at: datetime | None


@dataclass(frozen=True)
class DueIn:
    """Seconds until the next job slot and the next pending attempt may be due."""

    jobs: float | None
    pending: float | None


class Repository:
    """One connection, reconnected on demand, and the worker's queries on it."""

    def __init__(self, url: str, application_name: str) -> None:
        self._url = url
        self._application_name = application_name
        self._connection: AsyncConnection | None = None
        # One connection serves one transaction at a time; tasks take turns.
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the connection if it is open."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock, self._open_transaction() as connection:
            yield connection

    @asynccontextmanager
    async def _open_transaction(self) -> AsyncIterator[AsyncConnection]:
        try:
            if self._connection is None or self._connection.closed:
                self._connection = await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    row_factory=dict_row,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    application_name=self._application_name,
                )
            async with self._connection.transaction():
                yield self._connection
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            await self._discard()
            raise DatabaseUnavailable(
                f"database {redact(self._url)} unavailable: {_first_line(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise QueryFailed(f"query failed: {_first_line(exc)}") from exc

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

    async def reap_lost_runs(self) -> list[DictRow]:
        """Recover runs of dead workers; one row per run marked lost."""
        return await self._fetch("reap_lost_runs", {})

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
        return DueIn(jobs=rows[0]["jobs_due_in"], pending=rows[0]["pending_due_in"])

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
        async with self._transaction() as connection:
            limits = await self._queue_limits(connection, queues, limit)
            job_ids: list[int] = []
            for group, group_limit in limits:
                cursor = await connection.execute(
                    query("lock_due_jobs"), {"queues": group, "limit": group_limit}, prepare=True
                )
                job_ids.extend(row["id"] for row in await cursor.fetchall())
            if not job_ids:
                return ClaimResult([], 0, [], [])
            cursor = await connection.execute(
                query("load_locked_jobs"), {"job_ids": job_ids}, prepare=True
            )
            jobs = await cursor.fetchall()
            plans = [(job, plan(_due_job(job), job["database_now"])) for job in jobs]
            return await self._record_plans(connection, worker_id, plans)

    async def schedule_new_jobs(
        self, queues: Sequence[str], limit: int, plan: Callable[[DueJob, datetime], JobPlan]
    ) -> int:
        """Give up to ``limit`` unscheduled jobs (``next_run`` NULL) their next slot."""
        async with self._transaction() as connection:
            cursor = await connection.execute(
                query("lock_unscheduled_jobs"),
                {"queues": list(queues), "limit": limit},
                prepare=True,
            )
            job_ids = [row["id"] for row in await cursor.fetchall()]
            if not job_ids:
                return 0
            cursor = await connection.execute(
                query("load_locked_jobs"), {"job_ids": job_ids}, prepare=True
            )
            jobs = await cursor.fetchall()
            plans = [(job, plan(_due_job(job), job["database_now"])) for job in jobs]
            await connection.execute(query("advance_jobs"), _advance_params(plans), prepare=True)
            return len(jobs)

    async def _queue_limits(
        self, connection: AsyncConnection, queues: Sequence[str], limit: int
    ) -> list[tuple[list[str], int]]:
        """Queue groups to claim from with their limits: capped queues one by one."""
        async with connection.pipeline():
            await connection.execute(query("lock_queue_limits"), {"queues": list(queues)})
            cursor = await connection.execute(query("queue_headroom"), {"queues": list(queues)})
        headroom = {row["queue"]: max(0, row["headroom"]) for row in await cursor.fetchall()}
        groups: list[tuple[list[str], int]] = []
        uncapped = [queue for queue in queues if queue not in headroom]
        if uncapped:
            groups.append((uncapped, limit))
        groups.extend(([queue], min(limit, room)) for queue, room in headroom.items() if room > 0)
        return groups

    async def _record_plans(
        self, connection: AsyncConnection, worker_id: str, plans: list[tuple[DictRow, JobPlan]]
    ) -> ClaimResult:
        rows = [(job, run) for job, job_plan in plans for run in job_plan.runs]
        cancel = [run_id for _, job_plan in plans for run_id in job_plan.cancel_run_ids]
        started_slots = [(job["id"], p.started.scheduled_for) for job, p in plans if p.started]
        async with connection.pipeline():
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
                    "rows": _json_rows(
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
            await connection.execute(query("advance_jobs"), _advance_params(plans), prepare=True)
        inserted = await inserted_cursor.fetchall()
        cancelled = [row["id"] for row in await cancelled_cursor.fetchall()] if cancel else []
        if cancelled:
            await connection.execute(
                query("notify_cancel"), {"payload": ",".join(map(str, cancelled))}
            )
        jobs_by_id = {job["id"]: job for job, _ in plans}
        attempts = [
            _attempt(jobs_by_id[row["job_id"]], row, attempt=1)
            for row in inserted
            if row["status"] == RunStatus.RUNNING
        ]
        errors = [(job["name"], p.last_error) for job, p in plans if p.last_error]
        return ClaimResult(attempts, len(inserted), cancelled, errors)

    async def claim_pending_runs(
        self, worker_id: str, queues: Sequence[str], limit: int
    ) -> list[Attempt]:
        """Start up to ``limit`` pending attempts (retries, manual runs, queued slots)."""
        async with self._transaction() as connection:
            cursor = await connection.execute(
                query("lock_pending_runs"), {"queues": list(queues), "limit": limit}, prepare=True
            )
            candidates = await cursor.fetchall()
            if not candidates:
                return []
            job_ids = sorted({row["job_id"] for row in candidates})
            cursor = await connection.execute(
                query("lock_jobs"), {"job_ids": job_ids}, prepare=True
            )
            locked = [row["id"] for row in await cursor.fetchall()]
            if not locked:
                return []
            cursor = await connection.execute(
                query("start_pending_runs"),
                {
                    "run_ids": [row["id"] for row in candidates],
                    "job_ids": locked,
                    "worker_id": worker_id,
                },
                prepare=True,
            )
            started = await cursor.fetchall()
            if not started:
                return []
            cursor = await connection.execute(
                query("load_locked_jobs"),
                {"job_ids": sorted({row["job_id"] for row in started})},
                prepare=True,
            )
            jobs_by_id = {job["id"]: job for job in await cursor.fetchall()}
            return [_attempt(jobs_by_id[row["job_id"]], row, row["attempt"]) for row in started]

    # -- finishing -------------------------------------------------------------

    async def finish_runs(
        self, finished: Sequence[tuple[Attempt, Outcome, float]]
    ) -> list[FinishedRun]:
        """Record outcomes (with duration in ms); returns the runs whose fence still held."""
        rows = await self._fetch(
            "finish_runs",
            {
                "rows": _json_rows(
                    {
                        "run_id": attempt.run_id,
                        "fence": attempt.fence,
                        "status": outcome.status.value,
                        "error": _text(outcome.error),
                        "output": _text(outcome.output),
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


def _due_job(row: DictRow) -> DueJob:
    return DueJob(
        schedule=row["schedule"],
        timezone=row["timezone"],
        next_run=row["next_run"],
        overlap=row["overlap"],
        misfire=row["misfire"],
        misfire_threshold_seconds=row["misfire_threshold_seconds"],
        running_run_ids=tuple(row["running_run_ids"]),
    )


def _attempt(job: DictRow, run: DictRow, attempt: int) -> Attempt:
    return Attempt(
        run_id=run["id"],
        fence=run["fence"],
        job_id=job["id"],
        job_name=job["name"],
        kind=job["kind"],
        target=job["target"],
        args=job["args"],
        scheduled_for=run["scheduled_for"],
        attempt=attempt,
        max_attempts=job["max_attempts"],
        timeout_seconds=job["timeout_seconds"],
        trigger=Trigger(run["trigger"]),
        checkpoint=job["checkpoint"],
    )


def _advance_params(plans: list[tuple[DictRow, JobPlan]]) -> dict[str, Any]:
    return {
        "rows": _json_rows(
            {"job_id": job["id"], "next_run": job_plan.next_run, "last_error": job_plan.last_error}
            for job, job_plan in plans
        )
    }


def _json_rows(rows: Iterable[dict[str, Any]]) -> str:
    """A batch as the JSON array ``jsonb_to_recordset`` reads; instants in ISO 8601."""
    return json.dumps(list(rows), default=_iso)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} in a batch")


def _text(value: str | None) -> str | None:
    """Job output as PostgreSQL text holds it: no NUL characters, no lone surrogates."""
    if not value:
        return value
    return value.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\\0")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
