"""The claim side of the worker's database access: what is due, and taking it.

A claim is one pipelined transaction: lock due jobs (``SKIP LOCKED``), plan them
in Python, record their runs and advance them. Each claim notes the database
clock and the worker's monotonic clock around it (``ClaimClock``), from which the
worker holds a slot claimed ahead until its instant and records when each attempt
really began.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow, TupleRow

from pgsched.engine.planner import DueJob, JobPlan
from pgsched.engine.rows import (
    ClaimResult,
    advance_params,
    array_literal,
    attempt_from,
    due_job,
    planned_runs_params,
    planned_runs_query,
    probe_params,
    read_plans,
)
from pgsched.engine.session import AsyncConnection, Session
from pgsched.models import Attempt, ClaimClock

# A new or removed queue limit takes effect within this long.
QUEUE_LIMITS_REFRESH_SECONDS = 5.0

Planner = Callable[[DueJob, datetime], JobPlan]


@dataclass(frozen=True)
class DueIn:
    """Seconds until the next job slot and the next pending attempt may be due, and
    whether jobs wait for their first ``next_run``."""

    jobs: float | None
    pending: float | None
    unscheduled: bool


class Claims(Session):
    """The worker's claim queries on one session."""

    def __init__(
        self,
        url: str,
        application_name: str,
        prepare: bool = True,
        transaction_limit_seconds: float | None = None,
    ) -> None:
        super().__init__(url, application_name, prepare, transaction_limit_seconds)
        self._limited: frozenset[str] = frozenset()
        self._queue_limits_read_at: float | None = None

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
        plan: Planner,
        ahead_seconds: float = 0.0,
    ) -> ClaimResult:
        """Lock up to ``limit`` jobs due now or within ``ahead_seconds``, plan them,
        record their runs, advance them.

        One transaction: the runs, the new ``next_run`` values and any replaced
        attempts commit together or not at all.
        """
        limited = await self._limited_queues(queues)
        sent = time.monotonic()
        # The claim's one generic plan, without JIT; then the session's own mode.
        async with self._transaction("claim_settings") as connection:
            groups = [(list(queues), limit)]
            if limited:
                groups = await self._queue_groups(connection, queues, limit, limited)
            jobs: list[DictRow] = []
            for group, group_limit in groups:
                # One budget across the groups: capped queues never add to it.
                budget = min(group_limit, limit - len(jobs))
                if budget <= 0:
                    break
                cursor = await self.run(
                    connection,
                    "claim_due_jobs",
                    {
                        "worker_id": worker_id,
                        "queues": group,
                        "limit": budget,
                        "ahead_seconds": ahead_seconds,
                    },
                )
                jobs.extend(await self._rows(cursor))
            # Planned with the backend idle in the transaction (_rows synced, nothing
            # sent since), where the server can end it should this worker freeze.
            # Without plans, COMMIT alone ends claim_settings' settings.
            plans = [(job, plan(due_job(job), job["database_now"])) for job in jobs]
            if plans:
                writes = await self._send_plans(connection, worker_id, plans)
        if not plans:
            return ClaimResult([], [], [])
        clock = ClaimClock(jobs[0]["database_now"], sent, time.monotonic())
        return await read_plans(plans, clock, *writes)

    async def schedule_new_jobs(self, queues: Sequence[str], limit: int, plan: Planner) -> int:
        """Give up to ``limit`` unscheduled jobs (``next_run`` NULL) their next slot."""
        async with self._transaction() as connection:
            cursor = await self.run(
                connection, "claim_unscheduled_jobs", {"queues": list(queues), "limit": limit}
            )
            jobs = await self._rows(cursor)
            plans = [(job, plan(due_job(job), job["database_now"])) for job in jobs]
            if plans:
                await self.run(connection, "advance_jobs", advance_params(plans))
        return len(plans)

    async def claim_pending_runs(
        self, worker_id: str, queues: Sequence[str], limit: int
    ) -> list[Attempt]:
        """Start up to ``limit`` pending attempts (retries, manual runs, queued slots)."""
        sent = time.monotonic()
        async with self._transaction() as connection:
            cursor = await self.run(
                connection,
                "start_pending_runs",
                {"worker_id": worker_id, "queues": list(queues), "limit": limit},
            )
            started = await self._rows(cursor)
            if started:
                cursor = await self.run(
                    connection, "load_jobs", {"job_ids": sorted({row["job_id"] for row in started})}
                )
                jobs_by_id = {job["id"]: job for job in await self._rows(cursor)}
                checkpoints = await self._shard_checkpoints(connection, started)
        if not started:
            return []
        clock = ClaimClock(started[0]["database_now"], sent, time.monotonic())
        return [
            attempt_from(
                jobs_by_id[row["job_id"]],
                run_id=row["run_id"],
                fence=row["fence"],
                scheduled_for=row["scheduled_for"],
                attempt=row["attempt"],
                trigger=row["run_trigger"],
                clock=clock,
                shard=row["shard"],
                checkpoint=checkpoints.get((row["job_id"], row["shard"])),
            )
            for row in started
        ]

    async def _shard_checkpoints(
        self, connection: AsyncConnection, started: list[DictRow]
    ) -> dict[tuple[int, int], Any]:
        """The checkpoints of the started shards other than 0, by (job id, shard)."""
        shards = [(row["job_id"], row["shard"]) for row in started if row["shard"]]
        if not shards:
            return {}
        cursor = await self.run(
            connection,
            "load_shard_checkpoints",
            {"job_ids": [job_id for job_id, _ in shards], "shards": [s for _, s in shards]},
        )
        rows = await self._rows(cursor)
        return {(row["job_id"], row["shard"]): row["checkpoint"] for row in rows}

    async def release_held_runs(self, held: Sequence[tuple[int, int]]) -> list[int]:
        """Undo the claim of slots (``(run_id, fence)``) taken from their jobs' schedules
        and never begun: their jobs are due again at those slots, for any worker.
        Returns the runs released."""
        if not held:
            return []
        rows = await self._fetch(
            "release_held_runs",
            {"run_ids": [run_id for run_id, _ in held], "fences": [fence for _, fence in held]},
        )
        return list(rows[0]["run_ids"]) if rows else []

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
        await self.run(connection, "lock_queue_limits", {"queues": list(queues)})
        cursor = await self.run(connection, "queue_headroom", {"queues": list(queues)})
        headroom = {row["queue"]: max(0, row["headroom"]) for row in await self._rows(cursor)}
        groups: list[tuple[list[str], int]] = []
        uncapped = [queue for queue in queues if queue not in headroom]
        if uncapped:
            groups.append((uncapped, limit))
        groups.extend(([queue], min(limit, room)) for queue, room in headroom.items() if room > 0)
        return groups

    async def _send_plans(
        self, connection: AsyncConnection, worker_id: str, plans: list[tuple[DictRow, JobPlan]]
    ) -> tuple[
        AsyncCursor[DictRow] | None,
        AsyncCursor[TupleRow],
        AsyncCursor[DictRow] | None,
        AsyncCursor[DictRow] | None,
    ]:
        """Queue claim_settings_end and the claim's writes in the pipeline; their answers
        are read after COMMIT.

        Every parameter is built before the first is sent: from there to the COMMIT the
        backend waits mid-pipeline ('active', not idle in transaction), where only
        transaction_timeout (PostgreSQL 17+) ends it if this worker freezes, so that
        stretch is kept to the sends alone.
        """
        rows = [(job, run) for job, job_plan in plans for run in job_plan.runs]
        cancel = [run_id for _, job_plan in plans for run_id in job_plan.cancel_run_ids]
        started_slots = [(job["id"], run.scheduled_for) for job, p in plans if (run := p.started)]
        # Array literals: psycopg adapts a list element by element (this pair of lists
        # was 2.5 % of a busy worker's time).
        superseded = {
            "job_ids": array_literal([job_id for job_id, _ in started_slots]),
            "started_slots": array_literal([slot for _, slot in started_slots]),
        }
        inserted = (planned_runs_query(rows), planned_runs_params(worker_id, rows))
        advanced = advance_params(plans)
        probes = probe_params(plans)
        await self.run(connection, "claim_settings_end", {})
        cancelled_cursor = superseded_cursor = probes_cursor = None
        if cancel:
            cancelled_cursor = await self.run(
                connection, "cancel_replaced_runs", {"run_ids": cancel}
            )
        if started_slots:
            superseded_cursor = await self.run(connection, "supersede_retries", superseded)
        inserted_cursor = await self.run_tuples(connection, *inserted)
        await self.run(connection, "advance_jobs", advanced)
        if probes is not None:
            probes_cursor = await self.run(connection, "half_open_breakers", probes)
        return cancelled_cursor, inserted_cursor, probes_cursor, superseded_cursor
